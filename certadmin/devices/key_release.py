"""Releasing a device's private key: who may, and how it is revealed or handed out.

``key_access_authorize`` is the policy every key-bearing request passes first. Every release
goes the same way: fetch the key fresh from the API (never from a cache), build what the user
asked for in memory, write and commit the audit record, and only then return. If the record
cannot be written the caller gets ``AuditWriteError`` and no key (fail closed). Refusals and
failures are recorded too.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.debug import sensitive_variables

from certadmin.accounts.reauth import reauth_confirm, reauth_is_fresh
from certadmin.accounts.roles import REVEAL_PRIVATE_KEY
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.reasons import KeyAccessForm
from certadmin.audit.services import (
    AuditWriteError,
    RequestContext,
    audit_record,
    request_context,
)
from certadmin.certs.details import certificate_details
from certadmin.certs.fingerprints import private_key_matches, public_key_sha256
from certadmin.certs.loading import (
    CertificateDecodeError,
    PrivateKeyDecodeError,
    load_certificate,
    load_private_key,
)
from certadmin.devices.live_lookups import live_lookup_slot
from certadmin.devices.platform import describe_iot_error, iot_client, iot_error_status
from certadmin.iot.client import IotClient
from certadmin.iot.errors import IotError
from certadmin.iot.identity import DeviceRef
from certadmin.iot.results import CertStatus, DeviceCert

logger = logging.getLogger(__name__)


class KeyAccessDenied(Exception):
    """The user may not access private keys at all (a 403). Already audited."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KeyAccessInvalid(Exception):
    """The request is refused until the user corrects ``form`` (a 400): its errors say why.
    Already audited."""

    def __init__(self, form: KeyAccessForm):
        super().__init__("the key access form has errors")
        self.form = form


class KeyReleaseError(Exception):
    """The key was not released; ``message`` says why, for the user (in the user's language;
    the audit record keeps the English text). Already audited."""

    def __init__(self, message: str, *, code: str = "", request_id: str = "", status: int = 502):
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status


class ReleaseInputError(ValueError):
    """Raised by a ``build`` step when what the API returned cannot make the artifact."""


@dataclass(frozen=True)
class KeyMaterial:
    """What ``build`` steps receive: the API's answer and what could be parsed from it."""

    result: DeviceCert
    certificate: x509.Certificate | None
    private_key: Any  # a cryptography private key object, or None if unreadable

    def __repr__(self) -> str:
        return f"KeyMaterial(device={self.result.product_key}/{self.result.device_name})"


def _certificate_sha256(certificate: x509.Certificate | None) -> str:
    # The same colon-separated form the certificate page shows, so auditors can match them.
    return certificate_details(certificate).sha256_fingerprint if certificate is not None else ""


def _record_unsuccessful(
    *,
    outcome: AuditOutcome,
    actor,
    device: DeviceRef,
    context: RequestContext,
    action: AuditAction,
    **fields: str,
) -> None:
    # Best effort: the attempt has already been refused or has failed, and stays so whether or
    # not its record could be written.
    try:
        audit_record(
            action=action,
            outcome=outcome,
            actor=actor,
            context=context,
            device=device,
            **fields,
        )
    except AuditWriteError:
        logger.error("an unsuccessful %s (%s) could not be recorded", action, outcome)


def key_access_denied(
    *,
    actor,
    device: DeviceRef,
    context: RequestContext,
    action: AuditAction,
    why: str,
    outcome: AuditOutcome = AuditOutcome.DENIED,
) -> None:
    """Record a refused attempt: DENIED by the policy (no permission, stale re-authentication,
    a wrong password), or REFUSED for bad input (no valid reason)."""
    _record_unsuccessful(
        outcome=outcome,
        actor=actor,
        device=device,
        context=context,
        action=action,
        detail=why,
    )


def key_access_failed(
    *,
    actor,
    device: DeviceRef,
    context: RequestContext,
    action: AuditAction,
    reason: str,
    detail: str,
    code: str = "",
    request_id: str = "",
    cert_sn: str = "",
    outcome: AuditOutcome = AuditOutcome.FAILED,
) -> None:
    """Record an attempt that was allowed but failed (platform error, unusable data, …), or
    REFUSED for bad input the person can correct (an unusable passphrase)."""
    _record_unsuccessful(
        outcome=outcome,
        actor=actor,
        device=device,
        context=context,
        action=action,
        cert_sn=cert_sn,
        reason=reason,
        detail=detail,
        platform_code=code,
        platform_request_id=request_id,
    )


@sensitive_variables("password")
def key_access_authorize(
    *, request: HttpRequest, device: DeviceRef, action: AuditAction, form: KeyAccessForm
) -> None:
    """Let a key-bearing request go ahead, or raise why not (the refusal audited first).

    The policy: the key permission, a valid reason, a password entered within the last minutes
    (confirmed now when it is given), and a valid ``form`` otherwise. Takes the request because
    re-authentication belongs to its session. Raises ``KeyAccessDenied`` without the permission
    and ``KeyAccessInvalid`` (the errors added to ``form``) for anything the user can correct.
    """
    actor = request.user

    def refuse(
        why: str, *, field: str = "", error: str = "", outcome=AuditOutcome.DENIED
    ) -> KeyAccessInvalid:
        key_access_denied(
            actor=actor,
            device=device,
            context=request_context(request),
            action=action,
            why=why,
            outcome=outcome,
        )
        if field:
            form.add_error(field, error)
        return KeyAccessInvalid(form)

    if not actor.has_perm(REVEAL_PRIVATE_KEY):
        refuse("no permission to access private keys")
        raise KeyAccessDenied(gettext("You are not allowed to access private keys."))
    if not form.is_bound:
        raise ValueError("key_access_authorize needs the submitted form")
    form.is_valid()  # clean once: each rule below reads the errors it is about
    fresh = reauth_is_fresh(request)
    password = form.cleaned_data.get("password", "")
    if form.has_error("reason"):
        # Say everything that is missing at once, not one field per attempt.
        missing_password = not fresh and not password
        raise refuse(
            "no valid reason given",
            outcome=AuditOutcome.REFUSED,
            field="password" if missing_password else "",
            error=gettext("Enter your password to confirm it is you."),
        )
    if not fresh:
        if not password:
            raise refuse(
                "re-authentication required",
                field="password",
                error=gettext("Enter your password to confirm it is you."),
            )
        if not reauth_confirm(request=request, password=password):
            raise refuse(
                "re-authentication failed",
                field="password",
                error=gettext("That password is not correct."),
            )
    if not form.is_valid():
        if form.has_error("passphrase") or form.has_error("passphrase_confirm"):
            # The user is allowed, but chose an unusable passphrase: a failed download.
            chosen = form.cleaned_data.get("action", "p12")
            key_access_failed(
                actor=actor,
                device=device,
                context=request_context(request),
                action=action,
                reason=form.cleaned_data["reason"],
                detail=f"{chosen}: unusable passphrase",
                outcome=AuditOutcome.REFUSED,
            )
        raise KeyAccessInvalid(form)


@sensitive_variables("result", "private_key", "material", "artifact")
def key_release[T](
    *,
    actor,
    device: DeviceRef,
    reason: str,
    context: RequestContext,
    action: AuditAction,
    detail: str,
    build: Callable[[KeyMaterial], T],
    client: IotClient | None = None,
    then: Callable[[AuditEvent], None] | None = None,
) -> T:
    """Fetch the device's key, build ``build(material)``, audit, and return what was built.

    The caller has already checked permission, reason and re-authentication. Raises
    ``KeyReleaseError`` (audited as failed) when the platform or the data make it impossible,
    and ``AuditWriteError`` when the success record cannot be committed: then nothing is
    returned and the key never leaves the server. ``then(event)`` commits with the success
    record (``audit_record``'s): what it raises rolls the record back and no key leaves (the
    custody app spends an approval or a hand-over link there, exactly once).
    """
    try:
        with live_lookup_slot(user=actor):
            result = (client or iot_client(account=device.account)).query_device_cert(
                product_key=device.product_key,
                device_name=device.device_name,
                iot_instance_id=device.iot_instance_id or None,
            )
    except IotError as error:
        # Also LiveLookupsBusy: the person's other lookups hold every slot (a 429).
        key_access_failed(
            actor=actor,
            device=device,
            context=context,
            action=action,
            reason=reason,
            detail=detail,
            code=error.code,
            request_id=error.request_id,
        )
        raise KeyReleaseError(
            describe_iot_error(
                error, product_key=device.product_key, device_name=device.device_name
            ),
            code=error.code,
            request_id=error.request_id,
            status=iot_error_status(error),
        ) from None

    def fail(message: str) -> KeyReleaseError:
        # ``message`` is English (marked with gettext_noop): the audit detail keeps it as it is,
        # the user reads its translation (texts with no translation are shown unchanged).
        key_access_failed(
            actor=actor,
            device=device,
            context=context,
            action=action,
            reason=reason,
            detail=f"{detail}: {message}" if detail else message,
            request_id=result.request_id,
            cert_sn=result.cert_sn,
        )
        shown = gettext(message) if message else message  # gettext("") is the catalog header
        return KeyReleaseError(shown, request_id=result.request_id, status=409)

    if result.status != CertStatus.READY or not result.private_key:
        raise fail(gettext_noop("the certificate is not ready, so there is no key to release"))

    try:
        certificate = load_certificate(result.certificate)
    except CertificateDecodeError:
        certificate = None
    try:
        private_key = load_private_key(result.private_key)
    except PrivateKeyDecodeError:
        private_key = None

    try:
        artifact = build(KeyMaterial(result, certificate, private_key))
    except (ReleaseInputError, ValueError) as error:
        raise fail(str(error)) from None

    audit_record(
        action=action,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        context=context,
        device=device,
        cert_sn=result.cert_sn,
        certificate_sha256=_certificate_sha256(certificate),
        key_fingerprint=public_key_sha256(private_key) if private_key is not None else "",
        reason=reason,
        detail=detail,
        platform_request_id=result.request_id,
        then=then,
    )
    return artifact


@dataclass(frozen=True)
class RevealedKey:
    """A revealed private key, exactly as the platform returned it."""

    text: str = ""
    readable: bool = False
    matches_certificate: bool | None = None

    def __repr__(self) -> str:
        return f"RevealedKey(readable={self.readable}, matches={self.matches_certificate})"


def key_reveal(
    *,
    actor,
    device: DeviceRef,
    reason: str,
    context: RequestContext,
    client: IotClient | None = None,
    note: str = "",
    then: Callable[[AuditEvent], None] | None = None,
) -> RevealedKey:
    """Reveal a device's private key to ``actor`` (audited before it is returned). ``note`` is
    the record's detail (the approval or hand-over the reveal uses); ``then`` as in
    ``key_release``."""

    def build(material: KeyMaterial) -> RevealedKey:
        matches = None
        if material.private_key is not None and material.certificate is not None:
            matches = private_key_matches(material.certificate, material.private_key)
        return RevealedKey(
            text=material.result.private_key.strip(),
            readable=material.private_key is not None,
            matches_certificate=matches,
        )

    return key_release(
        actor=actor,
        device=device,
        reason=reason,
        context=context,
        action=AuditAction.KEY_REVEAL,
        detail=note,
        build=build,
        client=client,
        then=then,
    )


# Key custody (two-person approval, break-glass, hand-over links) lives in the custody app above
# this one, which installs its rule at startup (certadmin/custody/apps.py). None: no custody
# app, so the key form releases keys directly.
def _no_key_custody(*, user, device: DeviceRef) -> None:
    return None


_key_custody_find: Callable[..., Any] = _no_key_custody


def key_custody_rule_use(find: Callable[..., Any]) -> None:
    """Ask ``find(user=, device=)`` what custody rules apply to a person's key access: None,
    or an object with ``approvals_required`` (0: the key form releases the key directly) that
    the device page passes to templates/custody/key_custody.html."""
    global _key_custody_find
    _key_custody_find = find


def key_custody(*, user, device: DeviceRef) -> Any:
    """The custody rules for ``user`` releasing ``device``'s key (see ``key_custody_rule_use``)."""
    return _key_custody_find(user=user, device=device)


def key_custody_blocks(custody: Any) -> bool:
    """True when the key form may not release the key: approvals are required first."""
    return custody is not None and custody.approvals_required > 0
