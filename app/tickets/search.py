"""Keyword search over a request's subject, body and messages, for Japanese and English.

Each request has one row in `ticket_search`: `public_text` (subject, body and public replies:
what the customer may see) and `internal_text` (internal notes, staff only), both normalised by
`normalise()`. A query is split on white space into terms; a request matches when every
normalised term is a substring of its text. That is exact for 1-, 2- and 3+-character Japanese
terms alike, and needs no word segmentation.

On PostgreSQL `grams` holds the distinct 1- and 2-character n-grams of both texts, indexed by
GIN (array_ops: no extension, no locale). A 1- or 2-character term is one gram; a longer term
needs all the bigrams that cover it. The index narrows the candidates and LIKE rechecks exactly.
pg_trgm is no use here: it indexes nothing for terms under three characters and drops non-ASCII
characters under a C locale.

Lists are newest first, 25 a page, so two query shapes are fast for different terms:

- a *common* term (in more than about 1 request in 200) fills a page after a few thousand
  requests, so walking the requests by id downwards and checking each is cheapest;
- a *rare* term is found through the GIN index: few candidates, then sort.

The planner cannot tell them apart (it multiplies the frequencies of a word's bigrams as if they
were independent, so every long word looks rare), so `keyword_condition()` measures the term on
the newest requests first and picks the shape. SQLite (the embedded default) walks with LIKE.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import OrderedDict

from piccolo.query import WhereRaw

from app import db
from app.tickets.tables import Ticket, TicketMessage, TicketSearch

# A term found in at least this many of the newest SAMPLE_SIZE requests is "common".
SAMPLE_SIZE = 2000
COMMON_MATCHES = 10
# Grams used to narrow a long query; the LIKE recheck keeps the result exact.
MAX_GRAMS = 12
MAX_TERMS = 8
_CACHE_SECONDS = 300
_CACHE_SIZE = 512
_shape_cache: OrderedDict[tuple, tuple[float, bool]] = OrderedDict()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(text: str) -> str:
    """NFKC (full-width ASCII and half-width kana fold together) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def terms(query: str) -> list[str]:
    """The distinct normalised terms of a query, in order (at most MAX_TERMS). Control characters
    separate terms: no text holds them (they are refused on input; PostgreSQL refuses NUL)."""
    found: list[str] = []
    for term in _CONTROL.sub(" ", normalise(query)).split():
        if term not in found:
            found.append(term)
    return found[:MAX_TERMS]


def grams(text: str) -> list[str]:
    """The distinct 1- and 2-character n-grams of already-normalised text (none with white space:
    a query term never has any)."""
    found: set[str] = set()
    for word in text.split():
        found.update(word)
        found.update(map(str.__add__, word, word[1:]))
    return sorted(found)


def query_grams(query_terms: list[str]) -> list[str]:
    """Grams every matching document must contain: a short term itself, else bigrams covering it."""
    chosen: list[str] = []
    for term in query_terms:
        if len(term) <= 2:
            candidates = [term]
        else:
            # Non-overlapping bigrams plus the last one cover every character of the term.
            candidates = [term[i : i + 2] for i in range(0, len(term) - 1, 2)] + [term[-2:]]
        for gram in candidates:
            if gram not in chosen:
                chosen.append(gram)
    return chosen[:MAX_GRAMS]


async def refresh_search_document(ticket_id: int) -> None:
    """Rebuild a request's searchable text; call it in the transaction that changed it."""
    ticket = await Ticket.select(Ticket.subject, Ticket.body).where(Ticket.id == ticket_id).first()
    if ticket is None:
        return
    messages = await TicketMessage.select(TicketMessage.body, TicketMessage.internal).where(
        TicketMessage.ticket == ticket_id
    ).order_by(TicketMessage.id)
    document = search_document(
        ticket["subject"],
        ticket["body"],
        [m["body"] for m in messages if not m["internal"]],
        [m["body"] for m in messages if m["internal"]],
        with_grams=db.is_postgres(),
    )
    row = TicketSearch(ticket=ticket_id, **document)
    await TicketSearch.insert(row).on_conflict(
        target=TicketSearch.ticket,
        action="DO UPDATE",
        values=[TicketSearch.public_text, TicketSearch.internal_text, TicketSearch.grams],
    )


def search_document(
    subject: str, body: str, replies: list[str], notes: list[str], *, with_grams: bool = True
) -> dict:
    """The `ticket_search` values of a request (also used by the benchmark loader)."""
    public_text = normalise("\n".join([subject, body, *replies]))
    internal_text = normalise("\n".join(notes))
    return {
        "public_text": public_text,
        "internal_text": internal_text,
        "grams": grams(public_text + "\n" + internal_text) if with_grams else [],
    }


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text_condition(query_terms: list[str], include_internal: bool, prefix: str) -> tuple[str, list[str]]:
    """`(text LIKE p1) AND (text LIKE p2) ...` over the columns the caller may search."""
    parts = []
    values = []
    for term in query_terms:
        pattern = _like_pattern(term)
        if include_internal:
            parts.append(
                f"({prefix}public_text LIKE {{}} ESCAPE '\\' OR {prefix}internal_text LIKE {{}} ESCAPE '\\')"
            )
            values += [pattern, pattern]
        else:
            parts.append(f"{prefix}public_text LIKE {{}} ESCAPE '\\'")
            values.append(pattern)
    return " AND ".join(parts), values


def _indexed(query_terms: list[str], include_internal: bool) -> WhereRaw:
    """Rare terms: candidates from the GIN index on grams, rechecked exactly, then sorted.

    For staff, 1- and 2-character terms need no recheck: the grams are every 1- and 2-character
    substring of the public and internal text (the separator between them is whitespace, which a
    term never contains), so the index answer is already exact and no text is read.
    """
    grams_needed = query_grams(query_terms)
    if include_internal and all(len(term) <= 2 for term in query_terms) and len(grams_needed) == len(
        set(query_terms)
    ):
        return WhereRaw(
            "tickets.id = ANY (ARRAY(SELECT ticket FROM ticket_search WHERE grams @> {}::text[]))",
            grams_needed,
        )
    text, values = _text_condition(query_terms, include_internal, "")
    return WhereRaw(
        "tickets.id = ANY (ARRAY(SELECT ticket FROM ticket_search WHERE grams @> {}::text[] AND " + text + "))",
        grams_needed,
        *values,
    )


def _walked(query_terms: list[str], include_internal: bool) -> WhereRaw:
    """Common terms (and SQLite): check each request while walking newest first.

    A correlated scalar subquery is not turned into a join, so the planner keeps the id order
    of `tickets` (or of the filter's index) and stops after one page.
    """
    text, values = _text_condition(query_terms, include_internal, "s.")
    return WhereRaw(
        "(SELECT " + text + " FROM ticket_search s WHERE s.ticket = tickets.id)",
        *values,
    )


def keyword_filter(query: str, *, include_internal: bool) -> WhereRaw | None:
    """A condition on `tickets` that keeps the requests containing every term of `query`.

    None when the query has no terms. Customers (include_internal=False) match only what they
    may see, never internal notes. Exact on both databases; on PostgreSQL the planner decides
    how to use the index. `keyword_condition()` is the faster choice where it can be awaited.
    """
    query_terms = terms(query or "")
    if not query_terms:
        return None
    if not db.is_postgres():
        return _walked(query_terms, include_internal)
    return _indexed(query_terms, include_internal)


async def keyword_condition(query: str, *, include_internal: bool) -> WhereRaw | None:
    """Like `keyword_filter()`, with the query shape chosen by how common the terms are.

    Costs one small query (cached for a few minutes per term): how many of the newest
    SAMPLE_SIZE requests contain the terms.
    """
    query_terms = terms(query or "")
    if not query_terms:
        return None
    if not db.is_postgres() or await is_common(query_terms, include_internal=include_internal):
        return _walked(query_terms, include_internal)
    return _indexed(query_terms, include_internal)


async def is_common(query_terms: list[str], *, include_internal: bool) -> bool:
    """Whether the terms are in at least COMMON_MATCHES of the newest SAMPLE_SIZE requests."""
    key = (tuple(query_terms), include_internal)
    now = time.monotonic()
    cached = _shape_cache.get(key)
    if cached and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    text, values = _text_condition(query_terms, include_internal, "")
    sql = (
        "SELECT count(*) AS matches FROM (SELECT public_text, internal_text FROM ticket_search "
        f"ORDER BY ticket DESC LIMIT {SAMPLE_SIZE}) newest WHERE {text}"
    )
    rows = await TicketSearch.raw(sql, *values)
    common = rows[0]["matches"] >= COMMON_MATCHES
    _shape_cache[key] = (now, common)
    _shape_cache.move_to_end(key)
    while len(_shape_cache) > _CACHE_SIZE:
        _shape_cache.popitem(last=False)
    return common
