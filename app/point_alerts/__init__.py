"""Points alerts: expiry reminders and the low-balance alert (the mail side of billing/alerts.py)."""
