"""The one Piccolo app: every table of Kippu and the committed migrations."""

from piccolo.columns import OnDelete
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
from app.schema import with_foreign_keys
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

# Billing keeps the ids of organisations and users as plain integers (billing never imports app);
# these are the database's foreign keys from them to app's tables. RESTRICT: an organisation or a
# user named by the books is never deleted.
BILLING_REFERENCES = [
    (PointsAccount.organization, Organization),
    (LedgerEntry.actor, User),
    (IssuerProfile.updated_by, User),
    (Purchase.organization, Organization),
    (Purchase.requested_by, User),
    (BillingDocument.organization, Organization),
    (BillingDocument.issued_by, User),
    (BillingDocument.voided_by, User),
    (InvoicePayment.recorded_by, User),
    (UsageStatement.organization, Organization),
]

BILLING_TABLES = with_foreign_keys(
    [
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
    ],
    BILLING_REFERENCES,
    on_delete=OnDelete.restrict,
)

# In the order their foreign keys allow (rows are deleted in the reverse order between tests).
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
    *BILLING_TABLES,
]

APP_CONFIG = AppConfig(
    app_name="kippu",
    migrations_folder_path=str(ROOT / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
