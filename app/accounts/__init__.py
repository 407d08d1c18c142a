"""People and access: departments, customer organisations, users, API tokens."""
