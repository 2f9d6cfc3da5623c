"""The Schedules page: every product the person may see, with its schedule, last and next run
and freshness. People who may manage fleet settings set, change and remove schedules here;
others read it. Schedules from configuration are shown, never changed here."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import MANAGE_FLEET, VIEW_CERTIFICATES
from certadmin.audit.services import AuditWriteError, request_context
from certadmin.schedules.forms import ScheduleForm
from certadmin.schedules.selectors import schedule_for, schedule_rows
from certadmin.schedules.services import ScheduleError, schedule_delete, schedule_save
from certadmin.web.htmx import HtmxHttpRequest


def _page(request: HtmxHttpRequest, form: ScheduleForm | None, *, status: int = 200):
    now = timezone.now()
    context = {
        "rows": schedule_rows(user=request.user, now=now),
        "form": form,
        "now": now,
    }
    return render(request, "schedules/list.html", context, status=status)


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def schedule_list(request: HtmxHttpRequest) -> HttpResponse:
    """The products and their schedules; the form (prefilled from the query string, to edit
    one product's schedule) for those who may change them."""
    form = None
    if request.user.has_perm(MANAGE_FLEET):
        initial = {name: request.GET.get(name, "") for name in ("product_key", "instance", "cron")}
        if request.GET.get("account"):
            initial["account"] = request.GET["account"]
        form = ScheduleForm(
            initial={k: v for k, v in initial.items() if v},
            accounts=accounts_for(user=request.user),
        )
    return _page(request, form)


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def schedule_set(request: HtmxHttpRequest) -> HttpResponse:
    """Create or change a product's schedule; refused input changes nothing."""
    form = ScheduleForm(request.POST, accounts=accounts_for(user=request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule = schedule_save(
                actor=request.user,
                context=request_context(request),
                account=data["account"],
                product_key=data["product_key"],
                iot_instance_id=data["instance"],
                cron=data["cron"],
                mode=data["mode"],
            )
        except ScheduleError as refused:
            form.add_error(None, refused.message)
        except AuditWriteError:
            form.add_error(None, _("The change could not be recorded, so it was not made."))
        else:
            messages.success(
                request,
                _("Product %(product)s is synced on schedule %(cron)s.")
                % {"product": schedule.product_key, "cron": schedule.cron},
            )
            return redirect(reverse("schedules:list"))
    return _page(request, form, status=400)


@require_POST
@permission_required(MANAGE_FLEET, raise_exception=True)
def schedule_remove(request: HtmxHttpRequest, schedule_id: int) -> HttpResponse:
    """Remove a product's schedule (set in the dashboard)."""
    schedule = schedule_for(user=request.user, schedule_id=schedule_id)
    if schedule is None:
        raise Http404
    try:
        schedule_delete(actor=request.user, context=request_context(request), schedule=schedule)
    except ScheduleError as refused:
        messages.error(request, refused.message)
    except AuditWriteError:
        messages.error(request, _("The change could not be recorded, so it was not made."))
    else:
        messages.success(
            request,
            _("Product %(product)s is no longer synced on a schedule.")
            % {"product": schedule.product_key},
        )
    return redirect(reverse("schedules:list"))
