"""When each thing in the demo happened: the steps of every request's story, and the purchases,
payments and grants, on one time line that ends before the moment the demo is loaded.

The pauses between steps and the minutes logged are drawn, request after request, from a
generator seeded by the request's file, so the same data gives the same demo.
Steps fall in the vendor's office hours; a story that would not end before the moment of loading
starts a day earlier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.demo.loader import Demo, DemoDataError, load_demo
from app.demo.schema import CUSTOMER_VERBS, Assign, Grant, Purchase, Scenario, Step, Take
from app.settings import get_settings
from billing import clock


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of one request's story, at its moment."""

    at: datetime
    scenario: int  # the request's place in Demo.requests
    order: int  # 0: the filing, then the story's steps
    actor: str  # the key of the person who does it
    step: Step | None  # None: the filing
    minutes: int = 0  # logged with a staff member's note or reply

    @property
    def do(self) -> str:
        return self.step.do if self.step else "file"


@dataclass(frozen=True, slots=True)
class PointEvent:
    """A purchase ("buy"), the bank transfer for it ("pay") or a grant, at 10:00 on its day."""

    at: datetime
    do: str
    index: int  # the purchase's or grant's place in points.toml
    entry: Purchase | Grant


def timeline(demo: Demo, now: datetime) -> list[PlannedStep | PointEvent]:
    """Everything, in the order it happened (at the same moment, points before requests)."""
    return sorted([*point_events(demo, clock.day_of(now)), *plan(now, demo)], key=lambda event: event.at)


def point_events(demo: Demo, today: date) -> list[PointEvent]:
    events: list[PointEvent] = []
    for index, purchase in enumerate(demo.points.purchases):
        ordered_on = today - timedelta(days=purchase.days_ago)
        events.append(PointEvent(_ten_oclock(ordered_on), "buy", index, purchase))
        if purchase.paid_after_days is not None:
            paid_on = ordered_on + timedelta(days=purchase.paid_after_days)
            events.append(PointEvent(_ten_oclock(paid_on), "pay", index, purchase))
    for index, grant in enumerate(demo.points.grants):
        events.append(PointEvent(_ten_oclock(today - timedelta(days=grant.days_ago)), "grant", index, grant))
    return events


def _ten_oclock(day: date) -> datetime:
    return clock.start_of(day) + timedelta(hours=10)


def plan(now: datetime, demo: Demo | None = None) -> list[PlannedStep]:
    """Every step of every request's story (of the shipped data by default), in the order they happened."""
    demo = demo or load_demo()
    steps: list[PlannedStep] = []
    generators = [(random.Random(file.seed), file) for file in demo.request_files]
    scenarios = [(rng, scenario) for rng, file in generators for scenario in file.requests]
    for index, (rng, scenario) in enumerate(scenarios):
        story = _story(demo, scenario, rng)
        fractions = [rng.random() for _step in story]
        times = _timeline(scenario, [gap for gap, *_rest in story], fractions, now)
        steps.extend(
            PlannedStep(at=at, scenario=index, order=order, actor=actor, step=step, minutes=minutes)
            for order, (at, (_gap, actor, step, minutes)) in enumerate(zip(times, story, strict=True))
        )
    return sorted(steps, key=lambda step: (step.at, step.scenario, step.order))


def _story(demo: Demo, scenario: Scenario, rng: random.Random) -> list[tuple[float, str, Step | None, int]]:
    """The filing and the story's steps as (hours after the step before, actor, step, minutes)."""
    rules = demo.rules
    # The request's owner until someone takes it or is assigned it: the company's routing.
    owner = demo.companies[demo.people[scenario.requester].organization].assignee
    told: list[tuple[float, str, Step | None, int]] = [(0.0, scenario.filed_by or scenario.requester, None, 0)]
    for number, step in enumerate(scenario.story, start=1):
        actor = step.by or (scenario.requester if step.do in CUSTOMER_VERBS else owner)
        if actor is None:
            raise DemoDataError(
                f"the demo request 「{scenario.subject}」, step {number} ({step.do}): nobody owns the request "
                "yet (its company routes to no one); say who does it with `by`"
            )
        gap = rng.uniform(*rules.pace[step.do])
        if scenario.priority == "urgent" and step.do in rules.urgent.steps:
            gap *= rules.urgent.factor
        minutes = rng.choice(rules.minutes_for(step.do, scenario.category)) if step.do in rules.minutes else 0
        told.append((gap, actor, step, minutes))
        if isinstance(step, Take | Assign):
            owner = step.to if isinstance(step, Assign) else actor
    return told


def _office_hours(moment: datetime, fraction: float) -> datetime:
    """The moment, or the next weekday morning (9:00 and up to 90 minutes) when it falls outside
    office hours (9:00–18:00, vendor time)."""
    local = moment.astimezone(get_settings().zone)
    morning = timedelta(hours=9, minutes=fraction * 90)
    if local.hour < 9:
        local = _midnight(local) + morning
    elif local.hour >= 18:
        local = _midnight(local) + timedelta(days=1) + morning
    while local.weekday() >= 5:
        local = _midnight(local) + timedelta(days=1) + morning
    return local.astimezone(UTC)


def _filing_time(moment: datetime, fraction: float) -> datetime:
    """The moment, or some time of the last working day before it when it falls outside office hours."""
    local = moment.astimezone(get_settings().zone)
    if local.weekday() < 5 and 9 <= local.hour < 18:
        return moment
    day = _midnight(local) - timedelta(days=1 if local.hour < 9 else 0)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return (day + timedelta(hours=9, minutes=fraction * 525)).astimezone(UTC)


def _midnight(local: datetime) -> datetime:
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _timeline(scenario: Scenario, gaps: list[float], fractions: list[float], now: datetime) -> list[datetime]:
    """Step times in office hours, ending before `now`; a resolved request ends `days_ago` ago."""
    latest = now - timedelta(minutes=5)
    offset = timedelta(days=scenario.days_ago)
    if scenario.status == "resolved":
        offset += timedelta(hours=sum(gaps))
    start = now - offset
    for _attempt in range(60):
        moment = _filing_time(start, fractions[0])
        times = [moment]
        for gap, fraction in zip(gaps[1:], fractions[1:], strict=True):
            moment = _office_hours(moment + timedelta(hours=gap), fraction)
            times.append(moment)
        if times[-1] <= latest:
            return times
        start -= timedelta(days=1)
    raise DemoDataError(f"no time line fits the demo request 「{scenario.subject}」 before now")
