"""The points ledger, purchases, invoices and statements. Never imports `app` or Litestar."""
