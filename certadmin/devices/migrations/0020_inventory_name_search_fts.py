"""Substring search of DeviceName and nickname on SQLite (issue 24: a part of a name scanned
every record of the product, twice, 570 ms at 100,000 records): an FTS5 table with the
``trigram`` tokenizer over both columns, external content (the records themselves, by id), kept
in step by triggers, so that every write (``bulk_create``, ``update``, ``delete``, raw SQL)
keeps it right. ``selectors._search_q`` asks it for parts of 3 characters or more and checks
what it finds with the same ``LIKE`` as before. PostgreSQL has its trigram indexes (0004) and
gets nothing here.

SQLite drops a table's triggers with the table: a later migration that makes Django rebuild
``devices_certificaterecord`` on SQLite (most field changes) must create these triggers again
(``tests/devices/test_inventory_name_search.py`` checks that they exist)."""

from django.db import migrations

TABLE = "devices_certificaterecord"
FTS = "devices_certificaterecord_name_fts"

CREATE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5("
    f"device_name, nickname, content='{TABLE}', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}(rowid, device_name, nickname) "
    "VALUES (new.id, new.device_name, new.nickname); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, device_name, nickname) "
    "VALUES ('delete', old.id, old.device_name, old.nickname); END",
    # Only a change of a name touches the index (a sync's writes of other columns do not).
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF id, device_name, nickname ON {TABLE} "
    "WHEN old.id IS NOT new.id OR old.device_name IS NOT new.device_name "
    "OR old.nickname IS NOT new.nickname BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, device_name, nickname) "
    "VALUES ('delete', old.id, old.device_name, old.nickname); "
    f"INSERT INTO {FTS}(rowid, device_name, nickname) "
    "VALUES (new.id, new.device_name, new.nickname); END",
    # The records already there.
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
DROP = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE IF EXISTS {FTS}",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in CREATE:
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("devices", "0019_inventory_status_sort_index")]

    operations = [migrations.RunPython(create, drop)]
