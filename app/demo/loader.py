"""Reads the demo's data files (app/demo/data/) into one checked `Demo`.

The files are read in an order where each refers only to what the ones before define (vendor →
customers → points → story → requests/*.toml, the last in name order), and each is checked as it
is read: the first file that is wrong stops the loading with an error that names the file and
the entry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.demo.schema import Company, Customers, Points, Requests, Scenario, StoryRules, Vendor
from app.errors import KippuError
from app.tickets.tables import CATEGORIES, PRIORITIES, STATUSES

DATA = Path(__file__).parent / "data"
Model = TypeVar("Model", bound=BaseModel)


class DemoDataError(KippuError):
    """A demo data file that cannot be read or played; the message says where it is wrong."""

    code = "demo_data_error"


@dataclass(frozen=True, slots=True)
class Person:
    """A demo user, staff or customer, as the stories name them."""

    role: str
    email: str
    name: str
    department: str | None = None  # staff
    organization: str | None = None  # customers: the company's code

    @property
    def family_name(self) -> str:
        return self.name.split()[0]

    @property
    def is_customer(self) -> bool:
        return self.organization is not None


@dataclass(frozen=True, slots=True)
class Demo:
    vendor: Vendor
    companies: dict[str, Company]
    people: dict[str, Person]  # staff, then each company's people
    points: Points
    rules: StoryRules
    request_files: tuple[Requests, ...]

    @property
    def requests(self) -> tuple[Scenario, ...]:
        """Every request of every file, in the order they are read."""
        return tuple(scenario for file in self.request_files for scenario in file.requests)


@cache
def load_demo(folder: Path = DATA) -> Demo:
    vendor = _read(folder, "vendor.toml", Vendor, {})
    companies = _read(folder, "customers.toml", Customers, {
        "department": vendor.departments, "staff member": list(vendor.staff),
    }).companies
    people = {key: Person(m.role, m.email, m.name, department=m.department) for key, m in vendor.staff.items()}
    for code, company in companies.items():
        for key, p in company.people.items():
            if key in people:
                raise DemoDataError(f"customers.toml: {code}: the key {key!r} is taken by another person")
            people[key] = Person(p.role, p.email, p.name, organization=code)
    points = _read(folder, "points.toml", Points, {
        "company": list(companies), "bundle": [bundle.code for bundle in vendor.bundles],
    })
    vocabularies = {"category": CATEGORIES, "priority": PRIORITIES, "status": STATUSES}
    rules = _read(folder, "story.toml", StoryRules, vocabularies)
    names = {
        **vocabularies, "person": list(people), "staff member": list(vendor.staff),
        "customer": [key for key, person in people.items() if person.is_customer],
        "department": vendor.departments, "request type": [t.code for t in vendor.request_types],
        "custom field": [f.key for f in vendor.custom_fields],
    }
    request_files = tuple(
        _read(folder, path.relative_to(folder).as_posix(), Requests, names)
        for path in sorted((folder / "requests").glob("*.toml"))
    )
    return Demo(
        vendor=vendor, companies=companies, people=people, points=points, rules=rules, request_files=request_files
    )


def _read(folder: Path, name: str, model: type[Model], names: dict[str, Sequence[str]]) -> Model:
    """One file, checked against its model; `names`: the names it may use, by kind."""
    try:
        raw = tomllib.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DemoDataError(f"{name}: {exc}") from exc
    try:
        return model.model_validate(raw, context=names)
    except ValidationError as exc:
        problems = "\n".join(f"  {_place(raw, error['loc'])}: {error['msg']}" for error in exc.errors())
        raise DemoDataError(f"{name}:\n{problems}") from exc


def _place(raw: Any, loc: tuple[str | int, ...]) -> str:
    """Where in a file an error is, for a person: entries counted from 1, a request by its subject."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            subject = node.get("subject") if isinstance(node, dict) else None
            parts[-1] += f" #{key + 1}" + (f" 「{subject}」" if subject else "")
            continue
        node = node.get(key) if isinstance(node, dict) else None
        parts.append(str(key))
    return ", ".join(parts) or "(the file)"
