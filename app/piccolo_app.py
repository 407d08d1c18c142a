"""The one Piccolo app: every table of Kippu and the committed migrations."""

from piccolo.conf.apps import AppConfig

from app.accounts.tables import ApiToken, Department, Organization, OrganizationRouting, User
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
    ExpiryReminder,
    LedgerEntry,
    LedgerJobMark,
    PointAllocation,
    PointHold,
    PointLot,
    PointsAccount,
)
from pricing.tables import PointBundle, PointTableRequestType, PointTableSurcharge, PointTableVersion

TABLES = [
    Department,
    Organization,
    User,
    OrganizationRouting,
    ApiToken,
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
]

APP_CONFIG = AppConfig(
    app_name="kippu",
    migrations_folder_path=str(ROOT / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
