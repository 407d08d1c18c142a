"""Support requests (tickets): tables.py, the work in services/ (a package by role), the JSON API in
controllers.py with schemas.py, the portal's and the console's pages in pages/, attachments, search
and the scheduled jobs."""
