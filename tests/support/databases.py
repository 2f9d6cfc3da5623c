"""The test database, seen from another process."""

import pytest


def database_url_for_processes() -> str:
    """A DATABASE_URL that opens the test database (by its test name) from another process:
    PostgreSQL, or a SQLite file. Skips the test for the in-memory SQLite test database, which
    no other process can open."""
    from django.db import connection

    database = connection.settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        if connection.is_in_memory_db():
            pytest.skip("a worker process needs a shared database: set DATABASE_URL (PostgreSQL)")
        return f"sqlite:///{database['NAME']}"
    host = database["HOST"] or "localhost"
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{host}"
        f":{database['PORT'] or 5432}/{database['NAME']}"
    )
