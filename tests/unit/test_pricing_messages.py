"""Every refusal of pricing/ and billing/ reads in Japanese too, with the same blanks filled in."""

import ast
import inspect
import json
import re
from pathlib import Path

import billing.errors
import pricing.errors

ROOT = Path(__file__).resolve().parents[2]
CATALOG = json.loads((ROOT / "app/locales/ja/billing.json").read_text(encoding="utf-8"))


def _error_names() -> set[str]:
    names = set()
    for module in (pricing.errors, billing.errors):
        names |= {name for name, obj in inspect.getmembers(module, inspect.isclass) if issubclass(obj, Exception)}
    return names


def _templates() -> set[str]:
    errors, found = _error_names(), set()
    for path in [*ROOT.glob("pricing/*.py"), *ROOT.glob("billing/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            is_error = name in errors or (name == "__init__" and path.name == "errors.py")
            if is_error and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def test_the_messages_are_found():
    assert "The minimum purchase is {minimum}." in _templates()
    assert "Not enough points: {required} needed, {available} available." in _templates()


def test_every_refusal_has_a_japanese_translation_with_the_same_blanks():
    blanks = re.compile(r"\{(\w+)\}")
    for template in _templates():
        assert template in CATALOG, f"no Japanese for {template!r}"
        assert set(blanks.findall(CATALOG[template])) == set(blanks.findall(template)), template
