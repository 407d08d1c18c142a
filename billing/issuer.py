"""The vendor as the issuer of its documents: name, registration number (登録番号), contact,
bank account for transfers, payment terms and how consumption tax is rounded.

A qualified invoice needs the issuer's registration number: "T" and the 13 digits of its
corporate number, whose first digit is a check digit (python-stdnum checks it). No document is
issued until the issuer is set.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from stdnum.jp import cn

from billing import clock
from billing.documents import Issuer
from billing.errors import N_, InvalidValue, IssuerMissing
from billing.tables import IssuerProfile
from pricing.rules import ROUNDING_MODES, RoundingMode

NAME_MAX = 200
TEXT_MAX = 1000
PAYMENT_TERMS_MAX = 365


@dataclass(frozen=True)
class IssuerSettings:
    name: str
    registration_number: str
    address: str = ""
    phone: str = ""
    email: str = ""
    bank_account: str = ""
    payment_terms_days: int = 30
    tax_rounding: RoundingMode = "down"

    @property
    def issuer(self) -> Issuer:
        return Issuer(
            name=self.name, registration_number=self.registration_number, address=self.address,
            phone=self.phone, email=self.email, bank_account=self.bank_account,
        )


def registration_number(text: str) -> str:
    """The registration number as printed ("T1234567890123"), from what a person typed
    (full-width characters, spaces and hyphens allowed); InvalidValue when it is not one."""
    typed = unicodedata.normalize("NFKC", text or "").strip().upper().replace("-", "").replace(" ", "")
    digits = typed[1:] if typed.startswith("T") else typed
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        raise InvalidValue(
            N_("A registration number is T followed by 13 digits (e.g. T7123456789012)."), field="registration_number"
        )
    if not cn.is_valid(digits):
        raise InvalidValue(
            N_("The registration number T{digits} has a wrong check digit; check it against the notice of "
            "registration."), field="registration_number", digits=digits,
        )
    return "T" + digits


def checked_text(value: str, field: str, *, required: bool = False, maximum: int = TEXT_MAX) -> str:
    """Text as typed, trimmed; InvalidValue when required and empty, too long, or holding control
    characters (line breaks and tabs are text)."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidValue(N_("This field is required."), field=field)
    if len(value) > maximum:
        raise InvalidValue(N_("At most {maximum} characters."), field=field, maximum=maximum)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise InvalidValue(N_("Control characters are not allowed."), field=field)
    return value


def checked(settings: IssuerSettings) -> IssuerSettings:
    """The settings with their text tidied, or InvalidValue naming the first field at fault."""
    terms = settings.payment_terms_days
    if not isinstance(terms, int) or isinstance(terms, bool) or not 1 <= terms <= PAYMENT_TERMS_MAX:
        raise InvalidValue(
            N_("Payment terms are 1 to {maximum} days."), field="payment_terms_days", maximum=PAYMENT_TERMS_MAX
        )
    if settings.tax_rounding not in ROUNDING_MODES:
        raise InvalidValue(N_("Choose how consumption tax is rounded."), field="tax_rounding")
    return IssuerSettings(
        name=checked_text(settings.name, "name", required=True, maximum=NAME_MAX),
        registration_number=registration_number(settings.registration_number),
        address=checked_text(settings.address, "address"),
        phone=checked_text(settings.phone, "phone", maximum=40),
        email=checked_text(settings.email, "email", maximum=254),
        bank_account=checked_text(settings.bank_account, "bank_account"),
        payment_terms_days=terms,
        tax_rounding=settings.tax_rounding,
    )


async def current_issuer() -> IssuerSettings | None:
    """The issuer in force (the newest settings), or None before any were saved."""
    row = await IssuerProfile.select().order_by(IssuerProfile.id, ascending=False).first()
    if row is None:
        return None
    return IssuerSettings(
        name=row["name"], registration_number=row["registration_number"], address=row["address"],
        phone=row["phone"], email=row["email"], bank_account=row["bank_account"],
        payment_terms_days=row["payment_terms_days"], tax_rounding=row["tax_rounding"],
    )


async def issuer_in_force() -> IssuerSettings:
    """The issuer in force, or IssuerMissing (nothing can be sold or issued without it)."""
    issuer = await current_issuer()
    if issuer is None:
        raise IssuerMissing(
            N_("Points cannot be sold yet: the vendor's name and invoice registration number are not set "
            "(administration → issuer).")
        )
    return issuer


async def save_issuer(settings: IssuerSettings, *, actor_id: int | None = None) -> IssuerSettings:
    """Check and save new issuer settings; documents issued from now on carry them."""
    settings = checked(settings)
    await IssuerProfile.insert(
        IssuerProfile(
            name=settings.name, registration_number=settings.registration_number, address=settings.address,
            phone=settings.phone, email=settings.email, bank_account=settings.bank_account,
            payment_terms_days=settings.payment_terms_days, tax_rounding=settings.tax_rounding,
            updated_by=actor_id, created_at=clock.now(),
        )
    )
    return settings
