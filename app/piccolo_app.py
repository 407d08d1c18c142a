"""The one Piccolo app: every table of Kippu and the committed migrations."""

from piccolo.conf.apps import AppConfig

from app.accounts.tables import (
    ApiToken,
    BrowserSession,
    Department,
    Organization,
    OrganizationRouting,
    SecurityEvent,
    SignInThrottle,
    User,
)
from app.idempotency import IdempotencyRecord
from app.notifications.tables import OutboxMessage
from app.settings import ROOT
from app.tickets.tables import (
    Attachment,
    CustomField,
    PointChangeRequest,
    PointsPolicy,
    RequestType,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketMessage,
    TicketSearch,
    TicketWatcher,
)
from billing.tables import (
    BillingDocument,
    DocumentCounter,
    DocumentLine,
    DocumentTax,
    ExpiryReminder,
    InvoicePayment,
    IssuerProfile,
    LedgerEntry,
    LedgerJobMark,
    PointAllocation,
    PointHold,
    PointLot,
    PointsAccount,
    Purchase,
    StripeEvent,
    UsageStatement,
)
from pricing.tables import PointBundle, PointTableRequestType, PointTableSurcharge, PointTableVersion

TABLES = [
    Department,
    Organization,
    User,
    OrganizationRouting,
    ApiToken,
    BrowserSession,
    SignInThrottle,
    SecurityEvent,
    IdempotencyRecord,
    PointTableVersion,
    PointTableRequestType,
    PointTableSurcharge,
    PointBundle,
    RequestType,
    TicketCounter,
    Ticket,
    TicketMessage,
    Attachment,
    TicketEvent,
    TicketWatcher,
    CustomField,
    TicketSearch,
    PointChangeRequest,
    PointsPolicy,
    OutboxMessage,
    PointsAccount,
    PointLot,
    PointHold,
    LedgerEntry,
    PointAllocation,
    ExpiryReminder,
    LedgerJobMark,
    IssuerProfile,
    Purchase,
    BillingDocument,
    DocumentLine,
    DocumentTax,
    DocumentCounter,
    InvoicePayment,
    StripeEvent,
    UsageStatement,
]

APP_CONFIG = AppConfig(
    app_name="kippu",
    migrations_folder_path=str(ROOT / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
