"""The point table and bundles: pure pricing rules. No database, no HTTP."""
