"""Finding a device: the search page, opening a device by name, and a product's device list."""

from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import VIEW_AUDIT_TRAIL, VIEW_CERTIFICATES
from certadmin.devices import forms
from certadmin.devices.inventory_cache import InventoryCache, product_inventory_cached
from certadmin.devices.live_lookups import retry_after_add
from certadmin.devices.models import RecentDevice
from certadmin.devices.platform import describe_iot_error, iot_error_status
from certadmin.devices.rows import inventory_rows, inventory_rows_html
from certadmin.devices.selectors import (
    INVENTORY_PAGE_SIZE,
    device_search_target,
    inventory_devices,
    inventory_state_counts,
    inventory_status_sorted,
    name_lookup_offer,
    product_accounts_elsewhere,
    product_suggestions,
    recent_devices,
)
from certadmin.devices.services import device_list, device_query
from certadmin.iot.errors import IotError
from certadmin.iot.identity import DeviceRef
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, partial_wanted
from certadmin.web.pagination import CountedPaginator


def device_url(device: DeviceRef) -> str:
    """The bookmarkable URL of a device's certificate page."""
    return reverse("devices:device", args=[device.product_key, device.device_name]) + (
        device_query(device)
    )


def device_list_url(
    *, product_key: str, iot_instance_id: str = "", name: str = "", account: str = ""
) -> str:
    """The shareable URL of a product's device list, filtered by ``name`` when given."""
    query = {
        "product_key": product_key,
        "instance": iot_instance_id,
        "account": "" if account == settings.IOT_DEFAULT_ACCOUNT else account,
        "device_name": name,
    }
    return reverse("devices:list") + "?" + urlencode({k: v for k, v in query.items() if v})


# The platform's answer for a ProductKey the API account does not have.
PRODUCT_NOT_FOUND = "iot.prod.NotExistedProduct"


def product_elsewhere(
    request: HtmxHttpRequest,
    *,
    product_key: str,
    iot_instance_id: str,
    account: str,
    url_in: Callable[[str], str],
) -> list[tuple[str, str]]:
    """For a product the chosen API account does not have: the other accounts the user may
    use that have it, each as (name shown, ``url_in(account name)``: the same lookup there)."""
    return [
        (other.display_name, url_in(other.name))
        for other in product_accounts_elsewhere(
            user=request.user,
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            account=account,
        )
    ]


def search_form(
    request: HtmxHttpRequest,
    data=None,
    *,
    initial: dict | None = None,
    recent: Iterable[RecentDevice] | None = None,
) -> forms.DeviceSearchForm:
    """The home page's search form, offering the API accounts the user may use and the
    ProductKeys and instances the dashboard knows (``recent``: the user's recent devices,
    when the page has read them)."""
    known = product_suggestions(user=request.user, recent=recent)
    return forms.DeviceSearchForm(
        data,
        initial=initial,
        products=known.product_keys,
        instances=known.instances,
        accounts=accounts_for(user=request.user),
    )


def search_page(
    request: HtmxHttpRequest,
    form: forms.DeviceSearchForm | forms.DeviceLookupForm,
    *,
    status: int = 200,
) -> HttpResponse:
    """The search page with ``form`` (its errors beside the fields when it is bound)."""
    return render(
        request,
        "devices/home.html",
        {"form": form, "recent": recent_devices(user=request.user)},
        status=status,
    )


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The device search; where everyone lands after logging in."""
    if not request.user.has_perm(VIEW_CERTIFICATES):
        # An Auditor's work is the audit trail: send them there rather than to a 403.
        if request.user.has_perm(VIEW_AUDIT_TRAIL):
            return redirect("audit:events")
        raise PermissionDenied
    return search_page(request, search_form(request))


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def lookup(request: HtmxHttpRequest) -> HttpResponse:
    """Enter in the search form: open the device it names, else show the filtered list."""
    form = search_form(request, request.GET)
    if not form.is_valid():
        return search_page(request, form, status=400)
    data = form.cleaned_data
    target = device_search_target(
        product_key=data["product_key"],
        iot_instance_id=data["instance"],
        name=data["device_name"],
        account=data["account"],
        user=request.user,
    )
    if target is not None:
        return redirect(device_url(target))
    return redirect(
        device_list_url(
            product_key=data["product_key"],
            iot_instance_id=data["instance"],
            name=data["device_name"],
            account=data["account"],
        )
    )


def inventory_table(
    form: forms.InventoryFilterForm,
    *,
    table_url: str,
    table_target: str,
    now: datetime | None = None,
    total: int | None = None,
    all_products: bool = False,
) -> dict:
    """The context of ``devices/inventory_table.html`` for a valid ``form``: one page of the
    records it selects, with real totals (``total``: how many it selects, when the caller
    has counted them at ``now``)."""
    data = form.cleaned_data
    now = now or timezone.now()
    records = inventory_devices(
        **form.scope(),
        q=data["q"],
        state=data["state"],
        sort=data["sort"],
        now=now,
    )
    # The certificate text is not shown in a table: do not fetch it for every row.
    shown = records.defer("certificate", "subject", "issuer")
    if data["sort"] in ("status", "-status"):
        # One state at a time from the indexes: the same order, without ranking every record.
        # Every listed record of the scope: its states' counts are kept by the database, so a
        # deep page does not count the states before it.
        unfiltered = not data["state"] and not data["q"].strip()
        shown = inventory_status_sorted(
            shown,
            state=data["state"],
            descending=data["sort"] == "-status",
            now=now,
            total=total,
            counts=inventory_state_counts(scope=form.scope(), now=now) if unfiltered else None,
        )
    if total is None:
        paginator = Paginator(shown, INVENTORY_PAGE_SIZE)
    else:
        paginator = CountedPaginator(shown, INVENTORY_PAGE_SIZE, count=total)
    page = paginator.get_page(data["page"] or 1)
    rows = inventory_rows(page.object_list, now=now)
    return {
        "filter_form": form,
        "page_obj": page,
        "rows": rows,
        "rows_html": inventory_rows_html(rows, all_products=all_products),
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "sort": data["sort"],
        "table_url": table_url,
        "table_target": table_target,
    }


def _inventory_filter_data(request: HtmxHttpRequest) -> dict:
    # The search page's DeviceName box narrows the list too: it is the search text until the
    # table's own search box is used.
    query = request.GET
    q = query.get("q", query.get("name", query.get("device_name", "")))
    return {
        "product_key": query.get("product_key", ""),
        "instance": query.get("instance", ""),
        "account": query.get("account", ""),
        "q": q,
        "state": query.get("state", ""),
        "device": query.getlist("device"),
        "node": query.get("node", ""),
        "sort": query.get("sort", ""),
        "page": query.get("page") or None,
    }


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def devices(request: HtmxHttpRequest) -> HttpResponse:
    """A product's devices, filtered by the text typed so far (htmx partial or page): from the
    inventory once the product was synced, else from the live QueryDevice scan."""
    usable = accounts_for(user=request.user)
    form = forms.DeviceListForm(
        {
            "product_key": request.GET.get("product_key", ""),
            "instance": request.GET.get("instance", ""),
            "account": request.GET.get("account", ""),
            "name": request.GET.get("name", request.GET.get("device_name", "")),
            "page": request.GET.get("page") or None,
        },
        accounts=usable,
    )
    context = {"list_form": form, "listing": None, "error": "", "error_code": "", "request_id": ""}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        now = timezone.now()
        product_scope = {
            "product_key": data["product_key"],
            "iot_instance_id": data["instance"],
            "account": data["account"],
        }
        cached = InventoryCache(scope=product_scope, now=now)
        product = product_inventory_cached(**product_scope, cached=cached)
        context.update(
            product=product,
            sync_product_key=data["product_key"],
            sync_instance=data["instance"],
            sync_account=data["account"],
        )
        filter_form = forms.InventoryFilterForm(_inventory_filter_data(request), accounts=usable)
        offer_scope = {
            "product_key": data["product_key"],
            "iot_instance_id": data["instance"],
            "account": data["account"],
            "product": product,
        }
        if product.synced and filter_form.is_valid():
            shown = filter_form.cleaned_data
            unfiltered = not any(shown[key] for key in ("state", "device", "node")) and not (
                shown["q"].strip()
            )
            context.update(
                filter_form=filter_form,
                # The same page of the same records, filtered and sorted alike, in the same
                # language for the same accounts: the same table, until a write or the minute.
                inventory_table_html=cached.cached(
                    "device-list",
                    lambda: render_to_string(
                        "devices/inventory_table.html",
                        inventory_table(
                            filter_form,
                            table_url=reverse("devices:list"),
                            table_target="#device-list",
                            now=now,
                            # Every listed device: the coverage counted them, no second count.
                            total=product.coverage.listed
                            if unfiltered and product.coverage
                            else None,
                        ),
                        request,
                    ),
                    varies=(
                        sorted(request.GET.lists()),
                        [account.name for account in usable],
                        translation.get_language(),
                    ),
                ),
                name_offer=name_lookup_offer(**offer_scope, name=filter_form.cleaned_data["q"]),
            )
        elif product.synced:
            context["list_form"] = filter_form
            status = 400
        else:
            try:
                context["listing"] = device_list(
                    product_key=data["product_key"],
                    iot_instance_id=data["instance"],
                    name_filter=data["name"],
                    page=data["page"] or 1,
                    account=data["account"],
                    user=request.user,
                )
            except IotError as error:
                context.update(
                    error=describe_iot_error(error, product_key=data["product_key"]),
                    error_code=error.code,
                    request_id=error.request_id,
                )
                status = iot_error_status(error)
                # No device lookup to offer in a product or instance that does not exist.
                offer = not (error.is_not_found or error.is_instance_error)
                if error.code == PRODUCT_NOT_FOUND:
                    context["elsewhere"] = product_elsewhere(
                        request,
                        product_key=data["product_key"],
                        iot_instance_id=data["instance"],
                        account=data["account"],
                        url_in=lambda account: device_list_url(
                            product_key=data["product_key"],
                            iot_instance_id=data["instance"],
                            name=data["name"],
                            account=account,
                        ),
                    )
            else:
                offer = True
            if offer:
                context["name_offer"] = name_lookup_offer(
                    **offer_scope, name=data["name"], listing=context["listing"]
                )
    else:
        status = 400
    if not partial_wanted(request):
        # Unbound, only pre-filled: a bound form would flag the DeviceName nobody typed yet.
        fields = ("product_key", "device_name", "instance", "account")
        typed = {k: request.GET[k] for k in fields if k in request.GET}
        recent = list(recent_devices(user=request.user))
        context.update(form=search_form(request, initial=typed, recent=recent), recent=recent)
    template = page_or_partial(request, "devices/home.html", "device-list")
    return retry_after_add(render(request, template, context, status=status))
