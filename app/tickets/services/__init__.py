"""Support requests (tickets): the work, without HTTP. A package split by role:

    filing.py          file a request: who for whom, price and hold, number, routing; likely duplicates
    workflow.py        move it along: status changes (the machine is in rules.py), take, assign, waive
    thread.py          replies and internal notes, time spent, follow-ups of closed requests
    classification.py  reclassify and re-price: priority, category, request type, department, custom
                       fields, extra time, the customer's answer to a rise of price
    charges.py         the points side: what each step does to a request's held points (decisions
                       the services above carry out; it imports none of them)
    quotes.py          a request's price: the point table as the forms see it, the filing's quote
    points.py          a request's points story, its waiting change of price, the approval limit
    reading.py         one request, a page of a queue, the home screens' counts and lists
    filters.py         a queue's filters as a query, and its page cursor
    choices.py         the options of the request forms
    exports.py         a queue as CSV or Excel
    watchers.py        who else gets a request's replies by mail
    history.py         the history lines and what each says
    rules.py           the status machine and the words for statuses, priorities, categories (pure)
    validation.py      what people type, checked and cleaned (pure)
    results.py         the plain result types every module returns
    _rows.py           the row helpers they share: lock, save, record a history line, list columns

Every function takes the `Caller` making the request and plain values, and returns plain
dataclasses. Errors are those of app/errors.py:

- another organisation's request, or one that does not exist → `NotFound` (never 403);
- a role that may not do something (a customer posting an internal note) → `NotAllowed`;
- a status change the machine does not allow → `IllegalTransition` (409);
- a change made on a stale view (the `version` the caller saw is not the current one) →
  `StaleVersion` (409, "changed since you opened it");
- a bad value → `InvalidInput` with `field` naming it.

The calls of the JSON API (app/tickets/controllers.py) can also be imported from here, for short
call sites (`services.create_ticket`); each is defined in the module named on its line.
"""

from app.tickets.services.filing import create_ticket, find_likely_duplicates
from app.tickets.services.reading import PAGE_LIMIT_MAX, get_ticket, list_tickets, ticket_summary
from app.tickets.services.results import TicketFilters
from app.tickets.services.thread import add_message
from app.tickets.services.workflow import change_status

__all__ = [
    "PAGE_LIMIT_MAX",
    "TicketFilters",
    "add_message",
    "change_status",
    "create_ticket",
    "find_likely_duplicates",
    "get_ticket",
    "list_tickets",
    "ticket_summary",
]
