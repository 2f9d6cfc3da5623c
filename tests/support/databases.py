"""The test database, seen from another process, and its query plans."""

from collections.abc import Sequence

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


def query_plan(sql: str, *, reindexed: Sequence[str] = ()) -> str:
    """The database's plan of ``sql``, a line per row: on PostgreSQL what the indexes can
    answer (in the test's transaction, scans of whole tables and bitmaps turned off: a test's
    rows are never all-visible to it and its tables are small), on SQLite ``EXPLAIN QUERY
    PLAN``. The ``reindexed`` tables' indexes are built again first on PostgreSQL: the rows
    earlier tests wrote and rolled back still fill their pages (until a VACUUM that a test
    database seldom gets, and which never shrinks them), and the planner prices an index by its
    pages, so a plan would follow the order the tests ran in."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in reindexed:
                cursor.execute(f"REINDEX TABLE {connection.ops.quote_name(table)}")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row) for row in cursor.fetchall())


def migrate(app_label: str, target: str) -> None:
    """Migrate the test database's ``app_label`` to ``target`` (a migration's name), or every
    app to its newest migration (``"latest"``): a test that goes back must come back, or the
    later tests of its database miss what the newer migrations made."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if target == "latest":
        executor.migrate(executor.loader.graph.leaf_nodes())
    else:
        executor.migrate([(app_label, target)])
