"""The jobs list's rows as the page shows them, built in Python once per page (as
``devices.rows`` and ``audit.rows`` build theirs): a list of 200 jobs spent most of its time in
~40 template lookups per row."""

from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from certadmin.jobs.models import Job, JobKind, JobState
from certadmin.web.times import LocalTimes

_ID_SLOT = 987654321


def job_rows_html(jobs: Iterable[Job]) -> SafeString:
    """The ``<tr>`` of every job of ``jobs/list.html``'s table, in the active language and time
    zone (``job.waiting_text`` set by the view); every stored value is escaped."""
    label = {
        name: escape(gettext(text))
        for name, text in (
            ("job", "Job"),
            ("kind", "Kind"),
            ("started_by", "Started by"),
            ("state", "State"),
            ("done", "Done"),
            ("failures", "Failures"),
            ("started", "Started"),
            ("finished", "Finished"),
        )
    }
    command_line = escape(gettext("command line"))
    # Each kind's and state's label translated and escaped once (``get_<field>_display`` builds
    # the choices' table again for every call: two per row).
    kinds = {value: escape(str(label)) for value, label in JobKind.choices}
    states = {value: escape(str(label)) for value, label in JobState.choices}
    # The detail link reversed once; each row's id put in its place (ids are digits).
    detail = reverse("jobs:detail", args=[_ID_SLOT]).rpartition(str(_ID_SLOT))
    times = LocalTimes()
    # A page names a few people, products and states, each escaped once (escape's lazy-text
    # wrapper cost as much as the rest of a row).
    owners: dict[int, str] = {}
    products: dict[str, str] = {"": ""}
    state_classes: dict[str, str] = {}
    parts = []
    for job in jobs:
        product = products.get(job.product_key)
        if product is None:
            product = products[job.product_key] = (
                f' <code class="break">{escape(job.product_key)}</code>'
            )
        if job.owner is None:
            owner = command_line
        else:
            owner = owners.get(job.owner_id)
            if owner is None:
                owner = owners[job.owner_id] = escape(job.owner.get_username())
        state_class = state_classes.get(job.state)
        if state_class is None:
            state_class = state_classes[job.state] = escape(job.state)
        waiting = getattr(job, "waiting_text", "")
        waiting_html = (
            format_html('<br><span class="job-waiting">{}</span>', waiting) if waiting else ""
        )
        started = times.html(job.started_at) if job.started_at else "—"
        finished = times.html(job.finished_at) if job.finished_at else "—"
        kind = kinds.get(job.kind) or escape(job.kind)
        state = states.get(job.state) or state_class
        parts.append(
            "<tr>"
            f'<td data-label="{label["job"]}"><a href="{detail[0]}{job.pk}{detail[2]}">'
            f"#{job.pk}</a></td>"
            f'<td data-label="{label["kind"]}">{kind}{product}</td>'
            f'<td data-label="{label["started_by"]}" class="break">{owner}</td>'
            f'<td data-label="{label["state"]}"><span class="job-state job-state-'
            f'{state_class}">{state}</span>{waiting_html}</td>'
            f'<td data-label="{label["done"]}">{job.done}/{job.total}</td>'
            f'<td data-label="{label["failures"]}">{job.failed}</td>'
            f'<td data-label="{label["started"]}">{started}</td>'
            f'<td data-label="{label["finished"]}">{finished}</td>'
            "</tr>"
        )
    return mark_safe("\n".join(parts))  # noqa: S308 (every value above is escaped)
