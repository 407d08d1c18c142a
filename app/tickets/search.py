"""Keyword search over a request's subject, body and messages, for Japanese and English.

Each request has one row in `ticket_search`: `text` (everything, for staff) and `public_text`
(what the customer may see), both normalised by `normalise()`. A query matches a request when its
normalised form is a substring of that text: exact for 1-, 2- and 3+-character terms alike.
"""

from __future__ import annotations

import unicodedata

from piccolo.query import WhereRaw

from app.tickets.tables import Ticket, TicketMessage, TicketSearch


def normalise(text: str) -> str:
    """NFKC (full-width ASCII and half-width kana fold together) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def grams(text: str) -> list[str]:
    """The distinct 1- and 2-character n-grams of already-normalised text."""
    found = set(text)
    found.update(text[i : i + 2] for i in range(len(text) - 1))
    found.discard("")
    return sorted(found)


async def refresh_search_document(ticket_id: int) -> None:
    """Rebuild a request's searchable text; call it in the transaction that changed it."""
    ticket = await Ticket.select(Ticket.subject, Ticket.body).where(Ticket.id == ticket_id).first()
    messages = await TicketMessage.select(TicketMessage.body, TicketMessage.internal).where(
        TicketMessage.ticket == ticket_id
    ).order_by(TicketMessage.id)
    public = [ticket["subject"], ticket["body"], *(m["body"] for m in messages if not m["internal"])]
    every = public + [m["body"] for m in messages if m["internal"]]
    text = normalise("\n".join(every))
    public_text = normalise("\n".join(public))
    values = {TicketSearch.text: text, TicketSearch.public_text: public_text, TicketSearch.grams: grams(text)}
    updated = await TicketSearch.update(values).where(TicketSearch.ticket == ticket_id).returning(TicketSearch.id)
    if not updated:
        await TicketSearch.insert(
            TicketSearch(ticket=ticket_id, text=text, public_text=public_text, grams=grams(text))
        )


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def keyword_filter(query: str, *, include_internal: bool) -> WhereRaw | None:
    """A condition on `tickets` that keeps the requests containing `query` (None: no filter).

    Customers (include_internal=False) match only what they can see, never internal notes.
    """
    term = normalise(query.strip())
    if not term:
        return None
    column = "text" if include_internal else "public_text"
    return WhereRaw(
        f"tickets.id IN (SELECT ticket FROM ticket_search WHERE {column} LIKE {{}} ESCAPE '\\')",
        _like_pattern(term),
    )
