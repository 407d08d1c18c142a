"""The Japanese demo that `kippu seed-demo` (and so `make run`) loads.

A vendor's two departments and six staff, two customer companies with their people and their
routing (担当割当), five request types priced by a point table, two custom fields, the points the
companies bought, and fifty requests in every status and priority with replies, internal notes,
time logged, files and history over the past two months.

The demo is data: the TOML files under data/ (their README.md says what each holds and how a
request's story is told). loader.py reads and checks them, timeline.py puts every purchase and
every step of every story at its moment, and seed.py plays them in that order through the
services the app uses. Running it again changes nothing; it never runs in production.
"""

from app.demo.loader import DemoDataError, load_demo
from app.demo.seed import DemoLogin, SeedResult, demo_logins, seed_demo
from app.demo.timeline import plan

DEMO_PASSWORD = load_demo().vendor.password
SCENARIOS = load_demo().requests

__all__ = [
    "DEMO_PASSWORD", "SCENARIOS", "DemoDataError", "DemoLogin", "SeedResult", "demo_logins", "load_demo", "plan",
    "seed_demo",
]
