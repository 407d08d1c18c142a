"""Administration: departments, staff, organisations, request types, custom fields."""
