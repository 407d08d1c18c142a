"""The points ledger (and later purchases, invoices and statements). No HTTP; never imports app.

Call the ledger through `billing.ledger` (grant, purchase, hold, increase_hold, capture, release,
adjust, refund_unspent, expire_due, balance, entries) and check it with `billing.verify.verify`.
"""
