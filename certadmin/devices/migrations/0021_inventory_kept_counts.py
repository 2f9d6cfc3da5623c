"""Per-product counts of the inventory kept in step with its records (issue 24: the device
list, the expiry overview and the schedules page counted a product's 100,000 records again after
every write). ``ProductCounts`` (records, never checked, failed, not issued, removed) and
``ProductDayCounts`` (ready by notAfter's UTC day, checked by last_checked's UTC day), written
by triggers on ``devices_certificaterecord`` after every INSERT, UPDATE and DELETE, whoever
issues them (the sync, lookups, ``bulk_create``, ``update()``, the admin, raw SQL), in the
writer's transaction. A record's state is its stored ``status_rank`` (7 never checked, 6
failed, 5 not issued, 0 ready: ``models.STATUS_RANK``, the rules of ``devices.expiry``).

SQLite (one writer at a time) keeps one row per product and per day, updated by upserts.
PostgreSQL's writers only INSERT their changes, once per statement from its transition tables,
as rows of their own (a reader sums them), so concurrent writers stay exact without waiting for
a shared counter row or deadlocking over one; now and then a writer folds its products' rows
(``COMPACT_ONE_IN``). A TRUNCATE of the records
empties the counts.

The records already there are counted once, the table locked (PostgreSQL) so no write falls
between the count and the triggers. SQLite drops a table's triggers with the table: a later
migration that rebuilds ``devices_certificaterecord`` on SQLite must create them again
(``tests/devices/test_kept_counts.py`` checks that they exist)."""

from django.db import migrations, models

TABLE = "devices_certificaterecord"
COUNTS = "devices_productcounts"
DAYS = "devices_productdaycounts"
SCOPE = "account, product_key, iot_instance_id"


def _tally(row: str) -> str:
    """The columns of ``row`` (NEW or OLD, or a record) that ``ProductCounts`` counts, 0 or 1."""
    listed = f"{row}.removed_at IS NULL"
    return ", ".join(
        f"CASE WHEN {condition} THEN 1 ELSE 0 END"
        for condition in (
            f"{listed} AND {row}.status_rank = 7",
            f"{listed} AND {row}.status_rank = 6",
            f"{listed} AND {row}.status_rank = 5",
            f"{row}.removed_at IS NOT NULL",
        )
    )


def _tally_columns(row: str) -> str:
    """``_tally(row)`` as the columns never, failed, not_issued and removed."""
    names = ("never", "failed", "not_issued", "removed")
    return ", ".join(
        f"{column} AS {name}" for column, name in zip(_tally(row).split(", "), names, strict=True)
    )


# --- SQLite: a trigger per event and kind of count; an UPDATE touches only what it changed.
# A record taken away only decreases rows that are there (it was counted in them), on either
# database: a flush that empties the counts before the records (Django's test flush, in no
# fixed order) leaves none.
def _sqlite_of(row: str) -> str:
    return (
        f"account = {row}.account AND product_key = {row}.product_key "
        f"AND iot_instance_id = {row}.iot_instance_id"
    )


def _sqlite_tally_add(row: str) -> str:
    return (
        f"INSERT INTO {COUNTS} ({SCOPE}, records, never, failed, not_issued, removed) "
        f"SELECT {row}.account, {row}.product_key, {row}.iot_instance_id, 1, {_tally(row)} "
        "WHERE true ON CONFLICT (account, product_key, iot_instance_id) DO UPDATE SET "
        "records = records + excluded.records, never = never + excluded.never, "
        "failed = failed + excluded.failed, not_issued = not_issued + excluded.not_issued, "
        "removed = removed + excluded.removed; "
    )


def _sqlite_tally_take(row: str) -> str:
    names = ("never", "failed", "not_issued", "removed")
    return (
        f"UPDATE {COUNTS} SET records = records - 1, "  # noqa: S608
        + ", ".join(
            f"{name} = {name} - {column}"
            for name, column in zip(names, _tally(row).split(", "), strict=True)
        )
        + f" WHERE {_sqlite_of(row)}; "
    )


_SQLITE_DAY_OF = {"ready": "not_after", "checked": "last_checked"}


def _sqlite_counted(row: str, kind: str) -> str:
    listed = f"{row}.removed_at IS NULL"
    if kind == "ready":
        return f"{listed} AND {row}.status_rank = 0"
    return f"{listed} AND {row}.last_checked IS NOT NULL"


def _sqlite_day_add(row: str, kind: str) -> str:
    day = f"date({row}.{_SQLITE_DAY_OF[kind]})"
    return (
        f"INSERT INTO {DAYS} ({SCOPE}, day, ready, checked) "
        f"SELECT {row}.account, {row}.product_key, {row}.iot_instance_id, {day}, "
        + ("1, 0" if kind == "ready" else "0, 1")
        + f" WHERE {_sqlite_counted(row, kind)} "
        "ON CONFLICT (account, product_key, iot_instance_id, day) DO UPDATE SET "
        "ready = ready + excluded.ready, checked = checked + excluded.checked; "
    )


def _sqlite_day_take(row: str, kind: str) -> str:
    day = f"date({row}.{_SQLITE_DAY_OF[kind]})"
    of_day = f"{_sqlite_of(row)} AND day = {day}"
    return (
        f"UPDATE {DAYS} SET {kind} = {kind} - 1 "  # noqa: S608
        f"WHERE {of_day} AND {_sqlite_counted(row, kind)}; "
        f"DELETE FROM {DAYS} WHERE {of_day} AND ready = 0 AND checked = 0; "
    )


_SCOPE_CHANGED = (
    "old.account IS NOT new.account OR old.product_key IS NOT new.product_key "
    "OR old.iot_instance_id IS NOT new.iot_instance_id"
)
# The columns a record's counts follow from (status_rank is generated from the others).
_COUNTED_COLUMNS = (
    "account, product_key, iot_instance_id, removed_at, last_checked, last_error_code, "
    "status, not_after"
)


def _sqlite_day_changed(kind: str) -> str:
    day = f"date(%s.{_SQLITE_DAY_OF[kind]})"
    return (
        f"{_SCOPE_CHANGED} OR ({_sqlite_counted('old', kind)}) IS NOT "
        f"({_sqlite_counted('new', kind)}) OR {day % 'old'} IS NOT {day % 'new'}"
    )


SQLITE_CREATE = [
    f"CREATE TRIGGER {COUNTS}_insert AFTER INSERT ON {TABLE} BEGIN "
    + _sqlite_tally_add("new")
    + _sqlite_day_add("new", "ready")
    + _sqlite_day_add("new", "checked")
    + "END",
    f"CREATE TRIGGER {COUNTS}_delete AFTER DELETE ON {TABLE} BEGIN "
    + _sqlite_tally_take("old")
    + _sqlite_day_take("old", "ready")
    + _sqlite_day_take("old", "checked")
    + "END",
    f"CREATE TRIGGER {COUNTS}_update AFTER UPDATE OF {_COUNTED_COLUMNS} ON {TABLE} "
    f"WHEN {_SCOPE_CHANGED} OR ({_tally('old')}) IS NOT ({_tally('new')}) BEGIN "
    + _sqlite_tally_take("old")
    + _sqlite_tally_add("new")
    + "END",
    *(
        f"CREATE TRIGGER {DAYS}_{kind}_update AFTER UPDATE OF {_COUNTED_COLUMNS} ON {TABLE} "
        f"WHEN {_sqlite_day_changed(kind)} BEGIN "
        + _sqlite_day_take("old", kind)
        + _sqlite_day_add("new", kind)
        + "END"
        for kind in ("ready", "checked")
    ),
]
# SQLite keeps one row per product and per day (one writer at a time: nothing to wait for),
# updated in place by upserts, which need these.
SQLITE_UNIQUE = [
    f"CREATE UNIQUE INDEX {COUNTS}_one ON {COUNTS} ({SCOPE})",
    f"CREATE UNIQUE INDEX {DAYS}_one ON {DAYS} ({SCOPE}, day)",
]
SQLITE_DROP = [
    f"DROP INDEX IF EXISTS {COUNTS}_one",
    f"DROP INDEX IF EXISTS {DAYS}_one",
    f"DROP TRIGGER IF EXISTS {COUNTS}_insert",
    f"DROP TRIGGER IF EXISTS {COUNTS}_delete",
    f"DROP TRIGGER IF EXISTS {COUNTS}_update",
    f"DROP TRIGGER IF EXISTS {DAYS}_ready_update",
    f"DROP TRIGGER IF EXISTS {DAYS}_checked_update",
]

# --- PostgreSQL: one function for every event, run once per statement over its transition
# tables (a statement of 100,000 records is a few set-based INSERTs, where a trigger per
# record took minutes). Writers only ever INSERT rows of changes (+1/-1), never update a shared
# counter row, so concurrent writers neither wait for each other nor deadlock (a counter row
# locked by a sync's page while a lookup holds one of the page's records would); a reader sums
# a product's rows. Now and then (1 statement in COMPACT_ONE_IN, and after any statement of
# more records) a writer folds its products' rows into one per day, in one statement (the sums
# stay the same at every instant), unless another writer is folding that product (an advisory
# lock tried, never waited for).
COMPACT_ONE_IN = 64
_PG_ROWS = "removed_at, status_rank, not_after, last_checked"
# A statement's records as changes: +1 for each new row, -1 for each old one.
_PG_CHANGED = {
    "INSERT": f"SELECT {SCOPE}, 1 AS sign, {_PG_ROWS} FROM new_rows",  # noqa: S608
    "DELETE": f"SELECT {SCOPE}, -1 AS sign, {_PG_ROWS} FROM old_rows",  # noqa: S608
    "UPDATE": (
        f"SELECT {SCOPE}, -1 AS sign, {_PG_ROWS} FROM old_rows "  # noqa: S608
        f"UNION ALL SELECT {SCOPE}, 1, {_PG_ROWS} FROM new_rows"
    ),
}


def _pg_changes_add(changed: str) -> str:
    """The PL/pgSQL that adds the changes ``changed`` selects (a statement's rows, signed) to
    the counts, summed per product and per day (nothing for sums of zero: an UPDATE of other
    columns adds nothing), then folds the products it touched now and then, and after any
    statement of more than ``COMPACT_ONE_IN`` rows."""
    return f"""
    INSERT INTO {COUNTS} ({SCOPE}, records, never, failed, not_issued, removed)
    SELECT {SCOPE}, SUM(sign), SUM(sign * never), SUM(sign * failed),
      SUM(sign * not_issued), SUM(sign * removed)
    FROM (SELECT {SCOPE}, sign, {_tally_columns("c")} FROM ({changed}) AS c) AS tallied
    GROUP BY {SCOPE}
    HAVING SUM(sign) <> 0 OR SUM(sign * never) <> 0 OR SUM(sign * failed) <> 0
      OR SUM(sign * not_issued) <> 0 OR SUM(sign * removed) <> 0;
    INSERT INTO {DAYS} ({SCOPE}, day, ready, checked)
    SELECT {SCOPE}, day, SUM(ready), SUM(checked) FROM (
      SELECT {SCOPE}, (not_after AT TIME ZONE 'UTC')::date AS day, sign AS ready, 0 AS checked
      FROM ({changed}) AS c WHERE removed_at IS NULL AND status_rank = 0
      UNION ALL
      SELECT {SCOPE}, (last_checked AT TIME ZONE 'UTC')::date, 0, sign
      FROM ({changed}) AS c WHERE removed_at IS NULL AND last_checked IS NOT NULL
    ) AS counted
    GROUP BY {SCOPE}, day
    HAVING SUM(ready) <> 0 OR SUM(checked) <> 0;
    IF random() * {COMPACT_ONE_IN} < 1
        OR (SELECT COUNT(*) FROM ({changed}) AS c) > {COMPACT_ONE_IN} THEN
      PERFORM {COUNTS}_compact(account, product_key, iot_instance_id)
      FROM (SELECT DISTINCT {SCOPE} FROM ({changed}) AS c) AS touched;
    END IF;"""  # noqa: S608


POSTGRESQL_CREATE = [
    f"""
CREATE FUNCTION {COUNTS}_compact(p_account text, p_product text, p_instance text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtextextended(
      '{COUNTS}:' || p_account || ':' || p_product || ':' || p_instance, 0)) THEN
    RETURN;
  END IF;
  WITH gone AS (
    DELETE FROM {COUNTS} WHERE account = p_account AND product_key = p_product
      AND iot_instance_id = p_instance RETURNING *
  )
  INSERT INTO {COUNTS} ({SCOPE}, records, never, failed, not_issued, removed)
  SELECT {SCOPE}, SUM(records), SUM(never), SUM(failed), SUM(not_issued), SUM(removed)
  FROM gone GROUP BY {SCOPE}
  HAVING SUM(records) <> 0 OR SUM(never) <> 0 OR SUM(failed) <> 0 OR SUM(not_issued) <> 0
    OR SUM(removed) <> 0;
  WITH gone AS (
    DELETE FROM {DAYS} WHERE account = p_account AND product_key = p_product
      AND iot_instance_id = p_instance RETURNING *
  )
  INSERT INTO {DAYS} ({SCOPE}, day, ready, checked)
  SELECT {SCOPE}, day, SUM(ready), SUM(checked) FROM gone GROUP BY {SCOPE}, day
  HAVING SUM(ready) <> 0 OR SUM(checked) <> 0;
END $$""",  # noqa: S608
    f"""
CREATE FUNCTION {COUNTS}_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Once per statement, from its transition tables: a statement that writes 100,000 records
  -- adds their changes in two set-based INSERTs, not a trigger call per record.
  IF TG_OP = 'INSERT' THEN
{_pg_changes_add(_PG_CHANGED["INSERT"])}
  ELSIF TG_OP = 'DELETE' THEN
{_pg_changes_add(_PG_CHANGED["DELETE"])}
  ELSE
{_pg_changes_add(_PG_CHANGED["UPDATE"])}
  END IF;
  RETURN NULL;
END $$""",
    f"""
CREATE FUNCTION {COUNTS}_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {COUNTS};
  DELETE FROM {DAYS};
  RETURN NULL;
END $$""",  # noqa: S608
    # One trigger per event: PostgreSQL gives transition tables to no trigger of several
    # events or with a column list (so an UPDATE of other columns adds only zero sums: none).
    f"CREATE TRIGGER {COUNTS}_inserted AFTER INSERT ON {TABLE} REFERENCING NEW TABLE AS "
    f"new_rows FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_kept()",
    f"CREATE TRIGGER {COUNTS}_updated AFTER UPDATE ON {TABLE} REFERENCING OLD TABLE AS "
    f"old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_kept()",
    f"CREATE TRIGGER {COUNTS}_deleted AFTER DELETE ON {TABLE} REFERENCING OLD TABLE AS "
    f"old_rows FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_kept()",
    f"CREATE TRIGGER {COUNTS}_truncated AFTER TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_truncated()",
]
POSTGRESQL_DROP = [
    *(
        f"DROP TRIGGER IF EXISTS {COUNTS}_{event} ON {TABLE}"
        for event in ("inserted", "updated", "deleted")
    ),
    f"DROP TRIGGER IF EXISTS {COUNTS}_truncated ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {COUNTS}_kept()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_truncated()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_compact(text, text, text)",
]


def _backfill(day_of: str) -> list[str]:
    """The counts of the records already there; ``day_of`` the SQL of a column's UTC day."""
    tally = _tally("r").split(", ")
    return [
        f"INSERT INTO {COUNTS} ({SCOPE}, records, never, failed, not_issued, removed) "  # noqa: S608
        f"SELECT {SCOPE}, COUNT(*), "
        + ", ".join(f"SUM({column})" for column in tally)
        + f" FROM {TABLE} r GROUP BY {SCOPE}",
        f"INSERT INTO {DAYS} ({SCOPE}, day, ready, checked) "  # noqa: S608
        f"SELECT {SCOPE}, day, SUM(ready), SUM(checked) FROM ("
        f"SELECT {SCOPE}, {day_of % 'not_after'} AS day, 1 AS ready, 0 AS checked "
        f"FROM {TABLE} WHERE removed_at IS NULL AND status_rank = 0 "
        f"UNION ALL SELECT {SCOPE}, {day_of % 'last_checked'}, 0, 1 "
        f"FROM {TABLE} WHERE removed_at IS NULL AND last_checked IS NOT NULL"
        f") AS counted GROUP BY {SCOPE}, day",
    ]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No write between the count of the records there and the triggers taking over.
        statements = [
            f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE",
            *POSTGRESQL_CREATE,
            *_backfill("(%s AT TIME ZONE 'UTC')::date"),
        ]
    else:
        statements = [*SQLITE_UNIQUE, *SQLITE_CREATE, *_backfill("date(%s)")]
    for statement in statements:
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRESQL_DROP if postgresql else SQLITE_DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0020_inventory_name_search_fts"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductCounts",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account", models.CharField(max_length=32)),
                ("product_key", models.CharField(max_length=64)),
                ("iot_instance_id", models.CharField(blank=True, default="", max_length=128)),
                ("records", models.BigIntegerField(default=0)),
                ("never", models.BigIntegerField(default=0)),
                ("failed", models.BigIntegerField(default=0)),
                ("not_issued", models.BigIntegerField(default=0)),
                ("removed", models.BigIntegerField(default=0)),
            ],
            options={
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="ProductDayCounts",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account", models.CharField(max_length=32)),
                ("product_key", models.CharField(max_length=64)),
                ("iot_instance_id", models.CharField(blank=True, default="", max_length=128)),
                ("day", models.DateField()),
                ("ready", models.BigIntegerField(default=0)),
                ("checked", models.BigIntegerField(default=0)),
            ],
            options={
                "default_permissions": (),
            },
        ),
        migrations.AddIndex(
            model_name="certificaterecord",
            index=models.Index(
                condition=models.Q(listed_at__isnull=False),
                fields=["account", "product_key", "iot_instance_id", "listed_at"],
                name="certrecord_acct_listed_at",
            ),
        ),
        migrations.AddIndex(
            model_name="productcounts",
            index=models.Index(
                fields=["account", "product_key", "iot_instance_id"], name="productcounts_product"
            ),
        ),
        migrations.AddIndex(
            model_name="productdaycounts",
            index=models.Index(
                fields=["account", "product_key", "iot_instance_id", "day"],
                name="productdaycounts_day",
            ),
        ),
        migrations.RunPython(create, drop),
    ]
