"""Device lookups: the certificate page's data, the inventory, and product device lists.

The private key the API returns with every certificate is used here for exactly one thing,
checking that it matches the certificate, and is dropped before anything is stored.
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from certadmin.certs.chain_check import ChainCheck, check_chain
from certadmin.certs.details import Validity
from certadmin.certs.key_material import is_withheld
from certadmin.devices.inventory import (
    DecodedCertificate,
    decode_if_any,
    device_cert_decode,
    inventory_store,
    key_matches_certificate,
)
from certadmin.devices.live_lookups import live_lookup_slot
from certadmin.devices.models import CertificateRecord, RecentDevice, default_account_name
from certadmin.devices.platform import ca_certificates, iot_client
from certadmin.iot.client import LISTING_WINDOW_ROWS, IotClient
from certadmin.iot.errors import IotError
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import CertStatus, DeviceListing

logger = logging.getLogger(__name__)

DEVICE_LIST_PAGE_SIZE = 50
# A name filter scans at most this many QueryDevice pages (50 devices each).
DEVICE_LIST_SCAN_PAGES = 20
DEVICE_LIST_CACHE_SECONDS = 60
RECENT_DEVICES_KEPT = 10


def device_query(device) -> str:
    """The query string that names ``device``'s instance and API account in its URLs ("?…",
    or "" for the public instance of the default account, so older links keep working).
    ``device``: anything with ``iot_instance_id`` and ``account`` (a DeviceRef, an inventory
    record, a recent device)."""
    query = {}
    if device.iot_instance_id:
        query["instance"] = device.iot_instance_id
    account = getattr(device, "account", "")
    if account and account != settings.IOT_DEFAULT_ACCOUNT:
        query["account"] = account
    return "?" + urlencode(query) if query else ""


@dataclass(frozen=True)
class CertificateView:
    """Everything the certificate page shows about one device. Holds no key material."""

    device: DeviceRef
    status: CertStatus
    cert_sn: str
    decoded: DecodedCertificate | None
    validity: Validity | None
    key_matches: bool | None
    chain: ChainCheck | None
    checked_at: datetime
    from_inventory: bool
    request_id: str
    # The inventory record served (``from_inventory``), for what else the page shows of it.
    record: CertificateRecord | None = None

    @property
    def age_minutes(self) -> int:
        return max(0, int((timezone.now() - self.checked_at).total_seconds() // 60))

    @property
    def cert_sn_withheld(self) -> bool:
        return is_withheld(self.cert_sn)

    @property
    def request_id_withheld(self) -> bool:
        return is_withheld(self.request_id)

    @property
    def withheld_identifiers(self) -> list[str]:
        """The platform's identifiers that carried the device's private key (withheld)."""
        return [
            name
            for name, withheld in (
                ("CertSN", self.cert_sn_withheld),
                ("RequestId", self.request_id_withheld),
            )
            if withheld
        ]


def _view(
    *,
    device: DeviceRef,
    status: CertStatus,
    cert_sn: str,
    decoded: DecodedCertificate | None,
    key_matches: bool | None,
    checked_at: datetime,
    from_inventory: bool,
    request_id: str,
    record: CertificateRecord | None = None,
) -> CertificateView:
    now = timezone.now()
    cert = decoded.certificate if decoded else None
    return CertificateView(
        device=device,
        status=status,
        cert_sn=cert_sn,
        decoded=decoded,
        validity=decoded.details.validity(now) if decoded and decoded.details else None,
        key_matches=key_matches,
        chain=check_chain(cert, list(ca_certificates()), now) if cert is not None else None,
        checked_at=checked_at,
        from_inventory=from_inventory,
        request_id=request_id,
        record=record,
    )


# The recent list shows when a device was viewed to the minute: a device already at the top,
# viewed less than this long ago, is not rewritten on every view of its page.
RECENT_DEVICE_RETOUCH = timedelta(seconds=60)


def recent_device_on_top(*, user, device: DeviceRef) -> bool:
    """Whether ``device`` tops the user's recently viewed list, viewed less than
    ``RECENT_DEVICE_RETOUCH`` ago: touching it again would change nothing shown."""
    top = (
        RecentDevice.objects.filter(user=user)
        .order_by("-viewed_at")
        .values_list("product_key", "device_name", "iot_instance_id", "account", "viewed_at")
        .first()
    )
    return (
        top is not None
        and top[:4]
        == (device.product_key, device.device_name, device.iot_instance_id, device.account)
        and timezone.now() - top[4] < RECENT_DEVICE_RETOUCH
    )


def recent_device_touch(*, user, device: DeviceRef) -> None:
    """Put a device at the top of the user's recently viewed list (keeping the last few)."""
    if recent_device_on_top(user=user, device=device):
        return
    RecentDevice.objects.update_or_create(
        user=user,
        account=device.account,
        product_key=device.product_key,
        device_name=device.device_name,
        iot_instance_id=device.iot_instance_id,
        defaults={"viewed_at": timezone.now()},
    )
    stale = RecentDevice.objects.filter(user=user).order_by("-viewed_at")[RECENT_DEVICES_KEPT:]
    RecentDevice.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()


@sensitive_variables("result")
def certificate_lookup(
    *, device: DeviceRef, user, refresh: bool = False, client: IotClient | None = None
) -> CertificateView:
    """The certificate page's data for ``device``.

    Served from the inventory when it was checked within ``INVENTORY_FRESH_SECONDS`` (saving
    the account's 10 QPS quota) unless ``refresh``; otherwise asks ``QueryDeviceCert`` in one
    of ``user``'s live lookup slots. Raises ``IotError`` when the platform cannot answer, and
    ``LiveLookupsBusy`` (an ``IotError``) when ``user`` has no slot free.
    """
    view = _certificate_view(device=device, refresh=refresh, client=client, user=user)
    # Only devices that could be shown: a mistyped name must not fill the list.
    if user is not None and user.is_authenticated and not _recent_on_top(user=user, device=device):
        _best_effort("the recently viewed list", recent_device_touch, user=user, device=device)
    return view


def _recent_on_top(*, user, device: DeviceRef) -> bool:
    # Asked outside a transaction: a page viewed again (the usual case) opens none, two round
    # trips fewer. A database that cannot answer is left to the write to report.
    try:
        return recent_device_on_top(user=user, device=device)
    except DatabaseError:
        return False


@functools.lru_cache(maxsize=256)
def _inventory_decoded(text: str) -> DecodedCertificate | None:
    # The inventory stores the re-encoded public certificate: the same text always decodes to
    # the same result, so a page viewed again does not decode it again. (No key material.)
    return decode_if_any(text)


def _best_effort[T](what: str, write: Callable[..., T], **kwargs) -> T | None:
    # The inventory and the recent list are conveniences: a database that refuses the write
    # (locked, read-only, down) must not cost the user the page or the download. What must be
    # written (the audit trail) is not written through here.
    try:
        with transaction.atomic():
            return write(**kwargs)
    except DatabaseError as error:
        logger.warning("%s was not updated (%s)", what, type(error).__name__)
        return None


@sensitive_variables("result")
def _certificate_view(
    *, device: DeviceRef, refresh: bool, client: IotClient | None, user
) -> CertificateView:
    if not refresh:
        record = (
            CertificateRecord.objects.filter(
                account=device.account,
                product_key=device.product_key,
                device_name=device.device_name,
                iot_instance_id=device.iot_instance_id,
                # A failed lookup keeps the last good certificate: not one to show as current.
                last_error_code="",
                # The platform no longer listed it: ask it again.
                removed_at__isnull=True,
                last_checked__gte=timezone.now()
                - timedelta(seconds=settings.INVENTORY_FRESH_SECONDS),
            )
            # A ready certificate that could not be parsed is not stored: ask again, to say why.
            .exclude(status=CertStatus.READY, certificate="")
            .order_by()
            .first()
        )
        if record is not None:
            return _view(
                device=device,
                status=CertStatus(record.status),
                cert_sn=record.cert_sn,
                decoded=_inventory_decoded(record.certificate),
                key_matches=record.key_matches,
                checked_at=record.last_checked,
                from_inventory=True,
                request_id=record.request_id,
                record=record,
            )

    with live_lookup_slot(user=user):
        result = (client or iot_client(account=device.account)).query_device_cert(
            product_key=device.product_key,
            device_name=device.device_name,
            iot_instance_id=device.iot_instance_id or None,
        )
    decoded = device_cert_decode(result)
    matches = key_matches_certificate(decoded.certificate if decoded else None, result.private_key)
    record = _best_effort(
        "the inventory",
        inventory_store,
        result=result,
        key_matches=matches,
        decoded=decoded,
        account=device.account,
    )
    return _view(
        device=device,
        status=result.status,
        cert_sn=result.cert_sn,
        decoded=decoded,
        key_matches=matches,
        checked_at=record.last_checked if record is not None else timezone.now(),
        from_inventory=False,
        request_id=result.request_id,
    )


@dataclass(frozen=True)
class DevicePresence:
    """Whether a device is online, as ``QueryDeviceDetail`` said just now.

    ``status`` is the platform's word (``ONLINE``, ``OFFLINE``, ``UNACTIVE``, ``DISABLE``), ""
    when the platform could not say (then ``problem`` is the error's Code); ``last_online`` the
    last time the device came online, None when unknown or never.
    """

    status: str = ""
    last_online: datetime | None = None
    problem: str = ""


# A device's status as the platform said it, reused for this long by every view of its page
# (every process: the cache): asked on each view, QueryDeviceDetail's quota (50 calls/s per
# account) capped the certificate pages the whole dashboard could serve at 50 a second, each
# waiting its turn. The status changes by the minute; Refresh asks again.
DEVICE_PRESENCE_FRESH_SECONDS = 10


def device_presence_lookup(
    *, device: DeviceRef, refresh: bool = False, client: IotClient | None = None
) -> DevicePresence:
    """The device's status now (``QueryDeviceDetail``, 50 calls/s per account, not the
    certificate's 10): an answer of the last ``DEVICE_PRESENCE_FRESH_SECONDS`` unless
    ``refresh``. Never raises for the platform: a failed call is a presence with no status
    (not kept: the next view asks again), so the certificate page it sits on is not lost with
    it. The answer's DeviceSecret never reaches the result (the client drops it)."""
    key = (
        f"devices:presence:{device.account}:{device.product_key}:{device.iot_instance_id}:"
        f"{device.device_name}"
    )
    if not refresh and (kept := cache.get(key)) is not None:
        return kept
    client = client or iot_client(account=device.account)
    try:
        detail = client.query_device_detail(
            product_key=device.product_key,
            device_name=device.device_name,
            iot_instance_id=device.iot_instance_id or None,
        )
    except IotError as error:
        logger.info("device status unknown for %s: %s", device, error.code)
        return DevicePresence(problem=error.code or "unknown")
    presence = DevicePresence(status=detail.status, last_online=detail.last_online)
    # Public data only: the status and a time.
    cache.set(key, presence, DEVICE_PRESENCE_FRESH_SECONDS)
    return presence


@dataclass(frozen=True)
class DeviceList:
    """One screen of a product's devices."""

    product_key: str
    iot_instance_id: str
    name_filter: str
    devices: list[DeviceListing]
    page: int
    page_count: int
    total: int
    # A name filter only scans the first DEVICE_LIST_SCAN_PAGES pages of a very large product:
    # then ``total`` counts the matches among the ``scanned`` first of ``product_total`` devices.
    truncated: bool
    scanned: int = 0
    product_total: int = 0
    account: str = field(default_factory=default_account_name)
    # A device named exactly ``name_filter`` is among the matches (on any page of them).
    name_listed: bool = False


def _product_devices_scan(
    *, client: IotClient, product_key: str, iot_instance_id: str, account: str, user
) -> tuple[list[DeviceListing], int, bool]:
    cache_key = f"devices:list:{account}:{product_key}:{iot_instance_id}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    devices: list[DeviceListing] = []
    page, page_count, total = 1, 1, 0
    with live_lookup_slot(user=user):
        while page <= min(page_count, DEVICE_LIST_SCAN_PAGES):
            result = client.query_device(
                product_key=product_key,
                page=page,
                page_size=DEVICE_LIST_PAGE_SIZE,
                iot_instance_id=iot_instance_id or None,
            )
            devices.extend(result.devices)
            page_count, total = result.page_count, result.total
            page += 1
    scanned = (devices, total, page_count > DEVICE_LIST_SCAN_PAGES)
    # Public data only: DeviceSecret never reaches a DeviceListing.
    cache.set(cache_key, scanned, DEVICE_LIST_CACHE_SECONDS)
    return scanned


def device_list(
    *,
    product_key: str,
    iot_instance_id: str = "",
    name_filter: str = "",
    page: int = 1,
    account: str = "",
    client: IotClient | None = None,
    user=None,
) -> DeviceList:
    """A product's devices (``QueryDevice``), optionally those whose name contains a filter.

    The live list, for a product never synced into the inventory. Without a filter it is one
    API page; with one, the product's devices are scanned (up to ``DEVICE_LIST_SCAN_PAGES``
    pages, cached briefly) and matched case-insensitively: ``scanned`` and ``product_total``
    say how much of the product the matches cover. ``account``: the API account ("" for the
    default one). The platform is asked in one of ``user``'s live lookup slots.
    Raises ``IotError`` (``LiveLookupsBusy`` when ``user`` has no slot free).
    """
    account = account or default_account_name()
    client = client or iot_client(account=account)
    if not name_filter:
        # The platform answers a page past its 10,000-row window only to a caller that walked
        # there page by page (NextToken): the live list offers the pages it can jump to.
        reachable_pages = LISTING_WINDOW_ROWS // DEVICE_LIST_PAGE_SIZE
        with live_lookup_slot(user=user):
            result = client.query_device(
                product_key=product_key,
                page=min(page, reachable_pages),
                page_size=DEVICE_LIST_PAGE_SIZE,
                iot_instance_id=iot_instance_id or None,
            )
        return DeviceList(
            product_key=product_key,
            iot_instance_id=iot_instance_id,
            name_filter="",
            devices=list(result.devices),
            page=result.page,
            page_count=max(min(result.page_count, reachable_pages), 1),
            total=result.total,
            truncated=False,
            scanned=result.total,
            product_total=result.total,
            account=account,
        )
    every, product_total, truncated = _product_devices_scan(
        client=client,
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        account=account,
        user=user,
    )
    needle = name_filter.casefold()
    matches = [d for d in every if needle in d.device_name.casefold()]
    page_count = max(1, -(-len(matches) // DEVICE_LIST_PAGE_SIZE))
    page = min(page, page_count)
    start = (page - 1) * DEVICE_LIST_PAGE_SIZE
    return DeviceList(
        product_key=product_key,
        iot_instance_id=iot_instance_id,
        name_filter=name_filter,
        devices=matches[start : start + DEVICE_LIST_PAGE_SIZE],
        page=page,
        page_count=page_count,
        total=len(matches),
        truncated=truncated,
        scanned=len(every),
        product_total=max(product_total, len(every)),
        account=account,
        name_listed=any(d.device_name == name_filter for d in matches),
    )
