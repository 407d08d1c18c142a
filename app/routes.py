"""Every controller Kippu serves, in one list (registered by app.server.create_app)."""

from app.accounts.controllers import AuthController, MeController, OrganizationController, StaffController
from app.accounts.pages import AccountController, SignInController
from app.admin.pages import AdminController
from app.admin.point_table import PointTableAdminController
from app.invoices.controllers import InvoiceController, StatementController
from app.invoices.pages import FinanceController, IssuerAdminController
from app.point_alerts.pages import ConsolePointAlertsController, PointAlertsController
from app.points.controllers import OrganizationPointsController, PriceTableController
from app.points.pages import ConsolePointsController, PortalPointsController
from app.purchases.controllers import PurchaseController, StripeWebhookController
from app.purchases.pages import PortalPurchaseController, TestPaymentController
from app.tickets.controllers import TicketController
from app.tickets.pages.console import ConsoleTicketsController
from app.tickets.pages.portal import PortalTicketsController

ROUTE_HANDLERS = [
    SignInController,
    AuthController,
    MeController,
    OrganizationController,
    StaffController,
    AccountController,
    AdminController,
    TicketController,
    ConsoleTicketsController,
    PortalTicketsController,
    PointAlertsController,
    ConsolePointAlertsController,
    PointTableAdminController,
    PortalPointsController,
    ConsolePointsController,
    PriceTableController,
    OrganizationPointsController,
    PurchaseController,
    StripeWebhookController,
    InvoiceController,
    StatementController,
    FinanceController,
    IssuerAdminController,
    PortalPurchaseController,
    TestPaymentController,
]
