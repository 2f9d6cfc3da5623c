"""The expiry overview: where the inventory's certificates stand, for one product or all."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import get_language
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from certadmin.accounts.api_accounts import accounts_for
from certadmin.accounts.roles import VIEW_CERTIFICATES
from certadmin.devices import forms
from certadmin.devices.expiry import (
    EXPIRY_STATES,
    WITHIN_DAYS_DEFAULT,
    expiry_filter_count,
    expiry_within_count,
)
from certadmin.devices.expiry_cache import expiry_counts_cached, expiry_month_counts_cached
from certadmin.devices.expiry_chart import expiry_chart_html
from certadmin.devices.inventory_cache import InventoryCache
from certadmin.devices.inventory_csv import inventory_csv_lines
from certadmin.devices.selectors import (
    inventory_batches,
    inventory_devices,
    inventory_products_visible,
)
from certadmin.devices.views.search import inventory_table
from certadmin.web.htmx import HtmxHttpRequest, page_or_partial, partial_wanted

EXPIRY_DEFAULT_SORT = "days"


def _filter_form(request: HtmxHttpRequest) -> forms.InventoryFilterForm:
    return forms.InventoryFilterForm(
        request.GET, default_sort=EXPIRY_DEFAULT_SORT, accounts=accounts_for(user=request.user)
    )


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def expiry(request: HtmxHttpRequest) -> HttpResponse:
    """Counts per expiry state, expiries per month and the devices by days left, for the
    product in ``?product_key=&instance=&account=`` or for every product.

    The product picker's ``?product=`` is turned into that URL (the same filters kept), so a
    product's overview has one address."""
    if "product" in request.GET:
        picked = forms.ProductPickForm(
            request.GET, products=inventory_products_visible(user=request.user)
        )
        if picked.is_valid():
            query = picked.picked_query()
            return redirect(
                reverse("devices:expiry") + (f"?{urlencode(query, doseq=True)}" if query else "")
            )
        context = {"filter_form": picked, "picker": picked, "invalid": True}
        return render(request, "devices/expiry.html", context, status=400)
    form = _filter_form(request)
    if not form.is_valid():
        context = {"filter_form": form, "invalid": True}
        return render(
            request, page_or_partial(request, "devices/expiry.html", "results"), context, status=400
        )
    data = form.cleaned_data
    product_key = data["product_key"] or None
    instance = data["instance"] if product_key else ""
    now = timezone.now()
    scope = form.scope()
    cached = InventoryCache(scope=scope, now=now)

    def results_made() -> str:
        counts = expiry_counts_cached(scope=scope, now=now, cached=cached)
        total = sum(counts.values())
        # Without a search, the table shows exactly one of the counts: it need not count again.
        table_total = None
        if not data["q"]:
            table_total = expiry_filter_count(counts, data["state"]) if data["state"] else total
        results = {
            "product_key": product_key,
            "counts": [(state, label, counts[state]) for state, label in EXPIRY_STATES],
            "total": total,
            "expired": counts["expired"],
            "within_days": WITHIN_DAYS_DEFAULT,
            "within_count": expiry_within_count(counts, WITHIN_DAYS_DEFAULT),
            "state": data["state"],
            "all_products": product_key is None,
            **inventory_table(
                form,
                table_url=reverse("devices:expiry"),
                table_target="#expiry-results",
                now=now,
                total=table_total,
                all_products=product_key is None,
            ),
        }
        return render_to_string("devices/expiry.html#results", results, request=request)

    # The counts and the table show the scope's records only, as the page's query selects
    # them: written out once per inventory version, minute, query, language and accounts.
    results_html = cached.cached(
        "expiry-results",
        results_made,
        varies=(
            sorted(request.GET.lists()),
            list(form.account_names),
            get_language(),
        ),
    )
    if partial_wanted(request):
        return HttpResponse(results_html)
    context = {
        "product_key": product_key,
        "instance": instance,
        "results_html": results_html,
        "chart_html": expiry_chart_html(
            expiry_month_counts_cached(scope=scope, now=now, cached=cached), now=now
        ),
    }
    current = ""
    if product_key:
        current = forms.ProductPickForm.value_of(
            account=data["account"], product_key=product_key, iot_instance_id=instance
        )
    context["picker"] = forms.ProductPickForm(
        initial={
            "q": data["q"],
            "state": data["state"],
            "device": data["device"],
            "node": data["node"],
            "sort": data["sort"],
        },
        products=inventory_products_visible(user=request.user),
        current=current,
    )
    return render(request, "devices/expiry.html", context)


@require_GET
@permission_required(VIEW_CERTIFICATES, raise_exception=True)
def expiry_csv(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly the devices the overview's filters show (every page), as CSV, streamed."""
    form = _filter_form(request)
    if not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    data = form.cleaned_data
    product_key = data["product_key"] or None
    now = timezone.now()
    records = inventory_devices(
        **form.scope(),
        q=data["q"],
        state=data["state"],
        sort=data["sort"],
        now=now,
    )
    lines = inventory_csv_lines(inventory_batches(records), now=now)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"certificate-expiry-{product_key or 'all-products'}.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
