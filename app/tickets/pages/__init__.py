"""The request pages of the portal (portal.py) and of the console (console.py), and what they
share (common.py). The JSON API of requests is app/tickets/controllers.py."""
