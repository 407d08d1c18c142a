"""The layers app -> billing -> pricing hold for the tables too.

`make lint` checks the imports; a foreign key named by a string (LazyTableReference with a
module path) is an import that no import graph sees, so it is checked here.
"""

from __future__ import annotations

import inspect

import pytest
from piccolo.table import Table

import billing.tables
import pricing.tables

# What each layer's tables may refer to: their own layer and the layers below it.
MAY_REFER_TO = {"billing": {"billing", "pricing"}, "pricing": {"pricing"}}


@pytest.mark.parametrize("module", [billing.tables, pricing.tables], ids=lambda module: module.__name__)
def test_tables_refer_only_to_tables_of_their_layer_or_below(module):
    layer = module.__name__.split(".")[0]
    tables = [t for _, t in inspect.getmembers(module, inspect.isclass) if issubclass(t, Table) and t is not Table]
    assert tables
    for table in tables:
        for key in table._meta.foreign_key_columns:
            target = key._foreign_key_meta.resolved_references
            assert target.__module__.split(".")[0] in MAY_REFER_TO[layer], (
                f"{table.__name__}.{key._meta.name} refers to {target.__module__}.{target.__name__}"
            )
