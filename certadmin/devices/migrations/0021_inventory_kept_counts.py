"""Per-product counts of the inventory kept in step with its records (issue 24: the device
list, the expiry overview and the schedules page counted a product's 100,000 records again after
every write). ``ProductCounts`` (records, never checked, failed, not issued, removed) and
``ProductDayCounts`` (ready by notAfter's UTC day, checked by last_checked's UTC day), written
by triggers on ``devices_certificaterecord`` after every INSERT, UPDATE and DELETE, whoever
issues them (the sync, lookups, ``bulk_create``, ``update()``, the admin, raw SQL), in the
writer's transaction. A record's state is its stored ``status_rank`` (7 never checked, 6
failed, 5 not issued, 0 ready: ``models.STATUS_RANK``, the rules of ``devices.expiry``).

SQLite (one writer at a time) keeps one row per product and per day, updated by upserts.
PostgreSQL's writers only INSERT their changes as rows of their own (a reader sums them), so
concurrent writers stay exact without waiting for a shared counter row or deadlocking over one;
now and then a writer folds its product's rows (``COMPACT_ONE_IN``). A TRUNCATE of the records
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

# --- PostgreSQL: one function for every event. Writers only ever INSERT rows of changes
# (+1/-1), never update a shared counter row, so concurrent writers neither wait for each other
# nor deadlock (a counter row locked by a sync's page while a lookup holds one of the page's
# records would); a reader sums a product's rows. Now and then (1 write in COMPACT_ONE_IN) a
# writer folds its product's rows into one per day, in one statement (the sums stay the same
# at every instant), unless another writer is folding that product (an advisory lock tried,
# never waited for).
COMPACT_ONE_IN = 64
POSTGRESQL_CREATE = [
    f"""
CREATE FUNCTION {COUNTS}_add(
  p_account text, p_product text, p_instance text, d_records integer, d_never integer,
  d_failed integer, d_not_issued integer, d_removed integer
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF d_records <> 0 OR d_never <> 0 OR d_failed <> 0 OR d_not_issued <> 0 OR d_removed <> 0 THEN
    INSERT INTO {COUNTS} ({SCOPE}, records, never, failed, not_issued, removed)
    VALUES (p_account, p_product, p_instance, d_records, d_never, d_failed, d_not_issued,
      d_removed);
  END IF;
END $$""",  # noqa: S608
    f"""
CREATE FUNCTION {DAYS}_add(
  p_account text, p_product text, p_instance text, p_day date, d_ready integer,
  d_checked integer
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_day IS NOT NULL THEN
    INSERT INTO {DAYS} ({SCOPE}, day, ready, checked)
    VALUES (p_account, p_product, p_instance, p_day, d_ready, d_checked);
  END IF;
END $$""",  # noqa: S608
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
DECLARE
  o integer[] := ARRAY[0, 0, 0, 0];
  n integer[] := ARRAY[0, 0, 0, 0];
  o_ready date;
  n_ready date;
  o_checked date;
  n_checked date;
  same_scope boolean := false;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    o := ARRAY[{_tally("OLD")}];
    IF OLD.removed_at IS NULL AND OLD.status_rank = 0 THEN
      o_ready := (OLD.not_after AT TIME ZONE 'UTC')::date;
    END IF;
    IF OLD.removed_at IS NULL AND OLD.last_checked IS NOT NULL THEN
      o_checked := (OLD.last_checked AT TIME ZONE 'UTC')::date;
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n := ARRAY[{_tally("NEW")}];
    IF NEW.removed_at IS NULL AND NEW.status_rank = 0 THEN
      n_ready := (NEW.not_after AT TIME ZONE 'UTC')::date;
    END IF;
    IF NEW.removed_at IS NULL AND NEW.last_checked IS NOT NULL THEN
      n_checked := (NEW.last_checked AT TIME ZONE 'UTC')::date;
    END IF;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    same_scope := OLD.account = NEW.account AND OLD.product_key = NEW.product_key
      AND OLD.iot_instance_id = NEW.iot_instance_id;
  END IF;
  IF same_scope THEN
    -- Only what the write changed: a lookup again on the same day changes nothing here.
    PERFORM {COUNTS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, 0,
      n[1] - o[1], n[2] - o[2], n[3] - o[3], n[4] - o[4]);
    IF o_ready IS DISTINCT FROM n_ready THEN
      PERFORM {DAYS}_add(OLD.account, OLD.product_key, OLD.iot_instance_id, o_ready, -1, 0);
      PERFORM {DAYS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, n_ready, 1, 0);
    END IF;
    IF o_checked IS DISTINCT FROM n_checked THEN
      PERFORM {DAYS}_add(OLD.account, OLD.product_key, OLD.iot_instance_id, o_checked, 0, -1);
      PERFORM {DAYS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, n_checked, 0, 1);
    END IF;
  ELSE
    IF TG_OP <> 'INSERT' THEN
      PERFORM {COUNTS}_add(OLD.account, OLD.product_key, OLD.iot_instance_id, -1,
        -o[1], -o[2], -o[3], -o[4]);
      PERFORM {DAYS}_add(OLD.account, OLD.product_key, OLD.iot_instance_id, o_ready, -1, 0);
      PERFORM {DAYS}_add(OLD.account, OLD.product_key, OLD.iot_instance_id, o_checked, 0, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
      PERFORM {COUNTS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, 1,
        n[1], n[2], n[3], n[4]);
      PERFORM {DAYS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, n_ready, 1, 0);
      PERFORM {DAYS}_add(NEW.account, NEW.product_key, NEW.iot_instance_id, n_checked, 0, 1);
    END IF;
  END IF;
  IF random() * {COMPACT_ONE_IN} < 1 THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM {COUNTS}_compact(OLD.account, OLD.product_key, OLD.iot_instance_id);
    ELSE
      PERFORM {COUNTS}_compact(NEW.account, NEW.product_key, NEW.iot_instance_id);
    END IF;
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
    f"CREATE TRIGGER {COUNTS}_kept AFTER INSERT OR DELETE OR UPDATE OF {_COUNTED_COLUMNS} "
    f"ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {COUNTS}_kept()",
    f"CREATE TRIGGER {COUNTS}_truncated AFTER TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_truncated()",
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS {COUNTS}_kept ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {COUNTS}_truncated ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {COUNTS}_kept()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_truncated()",
    f"DROP FUNCTION IF EXISTS {COUNTS}_compact(text, text, text)",
    f"DROP FUNCTION IF EXISTS {COUNTS}_add(text, text, text, integer, integer, integer, "
    "integer, integer)",
    f"DROP FUNCTION IF EXISTS {DAYS}_add(text, text, text, date, integer, integer)",
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
