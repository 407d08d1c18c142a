"""Piccolo's configuration: the engine comes from DATABASE_URL."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app.settings import get_settings


def make_engine(database_url: str) -> PostgresEngine | SQLiteEngine:
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url}, extensions=())
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        # A generous busy timeout: writers queue behind each other instead of failing.
        return SQLiteEngine(path=path, timeout=30)
    raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgres://, not {database_url!r}")


DB = make_engine(get_settings().database_url)
APP_REGISTRY = AppRegistry(apps=["app.piccolo_app"])
