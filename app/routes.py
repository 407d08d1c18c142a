"""Every controller Kippu serves, in one list (registered by app.server.create_app)."""

from app.accounts.controllers import AuthController, MeController, OrganizationController, StaffController
from app.accounts.pages import AccountController, SignInController
from app.admin.pages import AdminController
from app.console.pages import ConsoleController
from app.portal.pages import PortalController
from app.tickets.controllers import TicketController

ROUTE_HANDLERS = [
    SignInController,
    AuthController,
    MeController,
    OrganizationController,
    StaffController,
    AccountController,
    AdminController,
    TicketController,
    ConsoleController,
    PortalController,
]
