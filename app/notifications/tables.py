from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class OutboxMessage(Table, tablename="outbox_messages"):
    """A mail waiting to be sent; written in the same transaction as its cause."""

    to_address = Varchar(length=254)
    subject = Varchar(length=300)
    body = Text()
    kind = Varchar(length=40)
    status = Varchar(length=10, default="pending")
    attempts = Integer(default=0)
    last_error = Text(default="")
    send_after = Timestamptz()
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)

    checks = {"known_status": "status IN ('pending', 'sent', 'failed')"}
    composite_indexes = {"outbox_messages_due": ("status", "send_after")}
