"""Every English text the code and templates mark for translation reads in Japanese too.

The text is extracted here from the sources as `make messages` does (babel.cfg), so new text
fails this test until `make messages` has brought it into app/locales/ja/LC_MESSAGES/messages.po
and someone has translated it there. A fuzzy entry (a guess `make messages` made from similar
text) counts as missing: the app does not show it.
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "app/locales/ja/LC_MESSAGES/messages"
NOT_SOURCES = {"node_modules", "var"}  # as `make messages` (--ignore-dirs), with .* and _*


def _catalogue() -> Catalog:
    with (CATALOGUE.parent / "messages.po").open("rb") as file:
        return read_po(file)


def _marked() -> dict[tuple[str | None, str], str]:
    """(context, English) of every marked text, with where it is first marked."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    found: dict[tuple[str | None, str], str] = {}
    for filename, lineno, message, _, context in extract_from_dir(
        ROOT, method_map, options_map,
        directory_filter=lambda path: Path(path).name not in NOT_SOURCES and not Path(path).name.startswith((".", "_")),
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(forms)


def _blanks(text: str) -> set[tuple[str, str, str | None]]:
    """The `{name}` blanks of a text (with their format spec and conversion, as str.format reads them)."""
    return {(name, spec or "", conversion) for _, name, spec, conversion in Formatter().parse(text) if name is not None}


def test_the_extraction_finds_code_templates_and_the_refusals_of_billing_and_pricing():
    marked = _marked()
    assert (None, "Sign in") in marked  # a template
    assert (None, "Not enough points: {required} needed, {available} available.") in marked  # billing, N_
    assert (None, "The minimum purchase is {minimum}.") in marked  # pricing, N_
    assert ("field type", "Number") in marked  # pgettext


def test_every_marked_text_has_a_japanese_translation():
    catalogue = _catalogue()
    missing = [
        f"{where}: {msgid!r}" + (f" (context {context!r})" if context else "")
        for (context, msgid), where in sorted(_marked().items(), key=lambda item: item[1])
        if not _translated(catalogue.get(msgid, context))
    ]
    assert not missing, (
        f"{len(missing)} marked texts have no Japanese (or only a fuzzy guess); run `make messages` and "
        "translate them in app/locales/ja/LC_MESSAGES/messages.po:\n" + "\n".join(missing)
    )


def test_japanese_has_one_plural_form():
    assert _catalogue().num_plurals == 1


def test_the_japanese_fills_the_same_blanks_as_the_english():
    wrong = []
    for message in _catalogue():
        if not message.id or not _translated(message):
            continue
        english = message.id[-1] if isinstance(message.id, tuple) else message.id  # the plural names them all
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        wrong += [f"{message.id!r}: {form!r}" for form in forms if _blanks(form) != _blanks(english)]
    assert not wrong, "\n".join(wrong)


def _plain(text: str | tuple[str, ...] | list[str]) -> str | tuple[str, ...]:
    # A plural's msgids and msgstrs: a tuple from the .po, a list from the .mo.
    return text if isinstance(text, str) else tuple(text)


def test_the_compiled_catalogue_is_the_committed_one():
    # The app reads messages.mo, which `make setup` compiles from the .po; an edited .po without
    # `make translations` would be tested (and served) with the old Japanese.
    assert CATALOGUE.with_suffix(".mo").exists(), "run `make setup` (or `make translations`) to compile the .po"
    with CATALOGUE.with_suffix(".mo").open("rb") as file:
        compiled = {(m.context, _plain(m.id)): _plain(m.string) for m in read_mo(file) if m.id}
    committed = {(m.context, _plain(m.id)): _plain(m.string) for m in _catalogue() if m.id and _translated(m)}
    assert compiled == committed, "messages.mo is older than messages.po: run `make translations`"


def test_a_count_of_one_is_singular_in_english_and_japanese_has_one_form():
    from app.i18n import format_points, ngettext, set_locale

    set_locale("en")
    assert (format_points(1), format_points(2), format_points(1200)) == ("1 point", "2 points", "1,200 points")
    assert ngettext("{count} file", "{count} files", 0, count=0) == "0 files"
    set_locale("ja")
    assert (format_points(1), format_points(2)) == ("1 ポイント", "2 ポイント")
