"""Kippu: the web application (portal, console, admin, JSON API, CLI)."""

import os

# Piccolo finds its engine through this module; set before any table is queried.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
