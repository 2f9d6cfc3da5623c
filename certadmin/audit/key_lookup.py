""" "Who has seen this key?", asked with the key or the certificate itself.

An auditor pastes a certificate, a public key or a private key; ``certs.key_identity`` reduces it
to the key pair's public-key SHA-256 (and a certificate's SHA-256). ``key_lookup`` then finds,
among what the auditor may read (``selectors.events_visible`` and the same account scope on the
inventory):

- the devices holding that key pair: in the inventory (through its indexed public-key and
  certificate fingerprints; the inventory lives in the devices app above this one, which plugs
  its finder in at startup), and in the trail (events that released the key name their device,
  so a device whose record was replaced since is still found);
- every successful event in which that key left the server (the release actions of
  ``custody_actions``), matched by the key fingerprint the event recorded, by the certificate's
  SHA-256, or, for an event that could identify neither (its key or certificate was unreadable),
  by the device;
- every certificate download of a certificate carrying that key.

The lookup is itself an event (``key_lookup``), recorded before the answer is shown: it names
what kind of text was pasted and the fingerprints, never the text.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_noop

from certadmin.audit.custody_actions import KEY_RELEASE_ACTIONS
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.selectors import account_matching, accounts_visible, events_visible
from certadmin.audit.services import RequestContext, audit_record
from certadmin.certs.key_identity import KeyIdentity
from certadmin.iot.identity import DeviceRef

# The newest events shown; the device's own trail holds the rest.
LOOKUP_EVENT_LIMIT = 200
# Devices whose unidentified releases are looked for (the rest still show their identified ones).
LOOKUP_DEVICE_LIMIT = 50

# Why a lookup was refused, as recorded (English; shown translated: ``KNOWN_DETAILS``).
REFUSAL_DETAILS = {
    "encrypted": gettext_noop("encrypted private key refused"),
    "too_large": gettext_noop("pasted text too large"),
    "unrecognised": gettext_noop("not a certificate or key"),
}


@dataclass(frozen=True)
class InventoryHolder:
    """A device whose certificate in the inventory carries the key pair looked up."""

    device: DeviceRef
    certificate_sha256: str
    cert_sn: str
    not_after: datetime | None


# The inventory's finder: ``find(public_key_sha256=, certificate_sha256=, accounts=)`` gives the
# InventoryHolders of those API accounts (every account for None). Installed by the devices app.
def _no_inventory(**lookup) -> list[InventoryHolder]:
    return []


_inventory_find: Callable[..., list[InventoryHolder]] = _no_inventory


def key_holders_finder_use(find: Callable[..., list[InventoryHolder]]) -> None:
    """Find the inventory's holders of a key pair with ``find`` (see ``_inventory_find``)."""
    global _inventory_find
    _inventory_find = find


@dataclass(frozen=True)
class KeyHolder:
    """A device that holds or held the key pair: ``in_inventory`` when its current certificate
    in the inventory carries it, ``in_trail`` when a release event of the key names it."""

    device: DeviceRef
    in_inventory: bool
    in_trail: bool
    certificate_sha256: str = ""
    cert_sn: str = ""
    not_after: datetime | None = None


@dataclass(frozen=True)
class KeyLookup:
    """What a lookup found, within what the auditor may read."""

    identity: KeyIdentity
    holders: list[KeyHolder]
    releases: list[AuditEvent]
    certificate_downloads: list[AuditEvent]
    truncated: bool
    event_id: int

    @property
    def release_people(self) -> list[str]:
        """Everyone the key was released to, in the order of their latest release."""
        return list(dict.fromkeys(e.actor_username for e in self.releases if e.actor_username))


def key_lookup(*, viewer, identity: KeyIdentity, context: RequestContext) -> KeyLookup:
    """Find who has seen the key pair ``identity`` names, and record the lookup (committed before
    this returns). Raises ``AuditWriteError`` when the lookup cannot be recorded: then nothing
    found may be shown."""
    accounts = accounts_visible(viewer=viewer)
    inventory = _inventory_find(
        public_key_sha256=identity.public_key_sha256,
        certificate_sha256=identity.certificate_sha256,
        accounts=accounts,
    )
    visible = events_visible(viewer=viewer)
    # Every certificate known to carry the key: the one pasted, the inventory's, and those the
    # trail's releases of the key recorded.
    certificates = {identity.certificate_sha256} | {h.certificate_sha256 for h in inventory}
    certificates |= set(
        visible.filter(key_fingerprint=identity.public_key_sha256)
        .exclude(certificate_sha256="")
        .values_list("certificate_sha256", flat=True)
        .distinct()[:LOOKUP_DEVICE_LIMIT]
    )
    certificates.discard("")
    matching = Q(key_fingerprint=identity.public_key_sha256) & ~Q(key_fingerprint="")
    if certificates:
        matching |= Q(certificate_sha256__in=sorted(certificates)) & ~Q(certificate_sha256="")
    unidentified = [
        Q(
            product_key=h.device.product_key,
            device_name=h.device.device_name,
            iot_instance_id=h.device.iot_instance_id,
            key_fingerprint="",
            certificate_sha256="",
            action__in=KEY_RELEASE_ACTIONS,
        )
        & account_matching(h.device.account)
        for h in inventory[:LOOKUP_DEVICE_LIMIT]
    ]
    if unidentified:
        matching |= reduce(or_, unidentified)
    found = list(
        visible.filter(
            action__in=[*KEY_RELEASE_ACTIONS, AuditAction.CERT_DOWNLOAD],
            outcome=AuditOutcome.SUCCESS,
        )
        .filter(matching)
        .order_by("-id")[: LOOKUP_EVENT_LIMIT + 1]
    )
    truncated = len(found) > LOOKUP_EVENT_LIMIT
    found = found[:LOOKUP_EVENT_LIMIT]
    releases = [e for e in found if e.action in KEY_RELEASE_ACTIONS]
    downloads = [e for e in found if e.action == AuditAction.CERT_DOWNLOAD]
    holders = _holders(inventory=inventory, releases=releases)
    event = audit_record(
        action=AuditAction.KEY_LOOKUP,
        outcome=AuditOutcome.SUCCESS,
        actor=viewer,
        context=context,
        certificate_sha256=identity.certificate_sha256,
        key_fingerprint=identity.public_key_sha256,
        detail=(
            f"{identity.description}, public key SHA-256 {identity.public_key_sha256}: "
            f"{len(holders)} devices, {len(releases)} key releases, "
            f"{len(downloads)} certificate downloads"
        ),
    )
    return KeyLookup(
        identity=identity,
        holders=holders,
        releases=releases,
        certificate_downloads=downloads,
        truncated=truncated,
        event_id=event.pk,
    )


def _holders(*, inventory: list[InventoryHolder], releases: list[AuditEvent]) -> list[KeyHolder]:
    """The inventory's holders first, then the devices only the trail names."""
    # Rows written before accounts were recorded (account "") are the default account's.
    default = settings.IOT_DEFAULT_ACCOUNT
    in_trail = {
        DeviceRef(e.product_key, e.device_name, e.iot_instance_id, e.account or default)
        for e in releases
        if e.device_name
    }
    holders = [
        KeyHolder(
            device=h.device,
            in_inventory=True,
            in_trail=_named(h.device, in_trail),
            certificate_sha256=h.certificate_sha256,
            cert_sn=h.cert_sn,
            not_after=h.not_after,
        )
        for h in inventory
    ]
    listed = {_device_key(h.device) for h in holders}
    for device in sorted(in_trail, key=_device_key):
        if _device_key(device) not in listed:
            listed.add(_device_key(device))
            holders.append(KeyHolder(device=device, in_inventory=False, in_trail=True))
    return holders


def _device_key(device: DeviceRef) -> tuple[str, str, str, str]:
    return (device.account, device.product_key, device.device_name, device.iot_instance_id)


def _named(device: DeviceRef, devices: set[DeviceRef]) -> bool:
    return _device_key(device) in {_device_key(d) for d in devices}


def key_lookup_refused(*, actor, context: RequestContext, code: str) -> None:
    """Record a lookup refused for its input (``KeyInputError.code``); the text is not recorded.
    Raises ``AuditWriteError``."""
    audit_record(
        action=AuditAction.KEY_LOOKUP,
        outcome=AuditOutcome.REFUSED,
        actor=actor,
        context=context,
        detail=REFUSAL_DETAILS.get(code, REFUSAL_DETAILS["unrecognised"]),
    )
