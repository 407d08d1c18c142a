"""Every controller Kippu serves, in one list (registered by app.server.create_app)."""

from app.accounts.pages import SignInController

ROUTE_HANDLERS = [
    SignInController,
]
