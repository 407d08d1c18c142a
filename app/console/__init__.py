"""The staff console: server-rendered pages for vendor staff."""
