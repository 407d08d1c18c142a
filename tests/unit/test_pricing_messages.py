"""Every refusal of pricing/ and billing/ reads in Japanese too, with the same blanks filled in."""

import ast
import inspect
import re
from pathlib import Path

from babel.messages.pofile import read_po

import billing.errors
import pricing.errors

ROOT = Path(__file__).resolve().parents[2]
with (ROOT / "app/locales/ja/LC_MESSAGES/messages.po").open("rb") as po:
    CATALOG = {m.id: m.string for m in read_po(po) if isinstance(m.id, str) and m.string and not m.fuzzy}


def _error_names() -> set[str]:
    names = set()
    for module in (pricing.errors, billing.errors):
        names |= {name for name, obj in inspect.getmembers(module, inspect.isclass) if issubclass(obj, Exception)}
    return names


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8")))
            for path in [*ROOT.glob("pricing/*.py"), *ROOT.glob("billing/*.py")]]


def _is_marked(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "N_"


def _templates() -> set[str]:
    """The English templates of the refusals: what pricing/ and billing/ mark N_(...) for `make messages`."""
    return {node.args[0].value for _, module in _modules() for node in ast.walk(module)
            if _is_marked(node) and isinstance(node.args[0], ast.Constant)}


def _unmarked_templates() -> list[str]:
    """Templates written as a bare string where a refusal is raised (`make messages` would miss them)."""
    errors, found = _error_names(), []
    for path, module in _modules():
        for node in ast.walk(module):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            is_error = name in errors or (name == "__init__" and path.name == "errors.py")
            if is_error and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
    return found


def test_the_messages_are_found():
    assert "The minimum purchase is {minimum}." in _templates()
    assert "Not enough points: {required} needed, {available} available." in _templates()


def test_every_refusal_is_marked_for_translation():
    assert not _unmarked_templates(), "wrap them in N_(...) so that `make messages` extracts them"


def test_every_refusal_has_a_japanese_translation_with_the_same_blanks():
    blanks = re.compile(r"\{(\w+)\}")
    for template in _templates():
        assert template in CATALOG, f"no Japanese for {template!r}"
        assert set(blanks.findall(CATALOG[template])) == set(blanks.findall(template)), template
