"""Who is making a request: the plain value every service authorises against."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.tables import CUSTOMER_ROLES, STAFF_ROLES


@dataclass(frozen=True, slots=True)
class Caller:
    id: int
    email: str
    name: str
    role: str
    organization_id: int | None
    department_id: int | None
    locale: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role in CUSTOMER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_finance(self) -> bool:
        return self.role in ("finance", "admin")

    @property
    def is_customer_admin(self) -> bool:
        return self.role == "customer_admin"

    def can_see_organization(self, organization_id: int) -> bool:
        """Staff see every organisation; a customer only its own (tenant isolation)."""
        return self.is_staff or self.organization_id == organization_id

    @classmethod
    def from_row(cls, row: dict) -> Caller:
        return cls(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            role=row["role"],
            organization_id=row["organization"],
            department_id=row["department"],
            locale=row["locale"],
        )
