"""The jobs list's two sections (the person's own jobs and other people's: their rows as
written out, and each section's next page), cached while no job changes, so that a view
neither reads 100 jobs again nor writes out their 200 times.

A job that has ended never changes its row again. What changes a page, and so the key:

- a new job: the newest job's id and creation;
- anything of an active job (queued, running, being cancelled): its state, counters, total,
  times and owner; the waiting texts count the whole queue, every person's and every kind's;
- a job ending: it leaves the active jobs;
- progress written after a job ended (a worker's last batch after a cancel): the newest
  ``last_progress_at``.

These are read in one query, each part from an index (the primary key, ``job_active``,
``job_last_progress``). The key also holds the person (their id, whether a superuser, whether
they may view certificates, the accounts they may use: which jobs they see and which are
theirs), the pages asked for, the language and the time zone. The names of the people who
started jobs are read with the rows: a person renamed or deleted shows within
``CACHE_SECONDS``. Only job numbers, products, states, counts and people's names are cached.
"""

import hashlib
from collections.abc import Callable, Sequence

from django.core.cache import cache
from django.db import connection
from django.utils import timezone, translation

from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.jobs.models import ACTIVE_STATES, Job

# How long a value may serve: the bound for people's names (a job's change is never behind).
CACHE_SECONDS = 60


def jobs_list_cached(
    *, user, accounts: Sequence[str], pages: dict, made: Callable[[], dict]
) -> dict:
    """``made()``'s sections for ``user`` (who may use ``accounts``) at ``pages`` (each
    section's ``before``), from the cache while no job changed."""
    shown = (
        user.pk,
        user.is_superuser,
        user.has_perm(VIEW_CERTIFICATES),
        sorted(accounts),
        sorted(pages.items()),
        translation.get_language(),
        timezone.get_current_timezone_name(),
    )
    digest = hashlib.sha256(repr((shown, _jobs_state())).encode()).hexdigest()
    return cache.get_or_set(f"jobs:list:{digest}", made, CACHE_SECONDS)


def _jobs_state() -> list[tuple]:
    """A row of the newest job's id and creation (an id is never given again, but a database
    restored from a backup, or a test's rolled back, may give it to another job) and the newest
    ``last_progress_at``, each read from an index, then a row of every active job's changing
    fields (from ``job_active``). Written out here: read on every view of the list, the ORM took
    longer to build it than the database to answer it."""
    job = Job._meta.db_table
    # The states written as values, not parameters: SQLite uses the partial index job_active
    # only for the very condition it was made with.
    states = ", ".join(f"'{state}'" for state in ACTIVE_STATES)
    newest = f"FROM {job} ORDER BY id DESC LIMIT 1"
    # (The table's name and the states come from the model.)
    sql = (
        f"SELECT (SELECT id {newest}), (SELECT created_at {newest}),"  # noqa: S608
        f" (SELECT MAX(last_progress_at) FROM {job}),"
        " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " UNION ALL"
        " SELECT NULL, NULL, NULL,"
        " id, state, done, failed, total, admitted_at, started_at, owner_id"
        f" FROM {job} WHERE state IN ({states})"
        " ORDER BY 4"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()
