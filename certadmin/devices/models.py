"""Inventory of public certificate data, and each user's recently viewed devices.

Nothing here ever holds a private key: only what the certificate itself makes public.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from certadmin.accounts.roles import model_permissions

# A record whose certificate is ready and was read: checked, last lookup succeeded, status 2
# (ready) and a notAfter. Its expiry state depends only on how far away notAfter is, so the
# expiry overview counts these by index ranges of notAfter (``devices.expiry``).
READY_Q = models.Q(
    last_checked__isnull=False, last_error_code="", status=2, not_after__isnull=False
)
# Every other record (never checked, failed, not issued), spelled so that a query and the
# partial index built on it carry the same condition (a database uses a partial index only for
# a query whose condition implies the index's).
NOT_READY_Q = (
    models.Q(last_checked__isnull=True)
    | models.Q(last_error_code__gt="")
    | models.Q(status__isnull=True)
    | models.Q(status__lt=2)
    | models.Q(status__gt=2)
    | models.Q(not_after__isnull=True)
)
# The rank of a record's expiry state in ``expiry.EXPIRY_STATES`` where it does not depend on
# the time: 7 never checked, 6 lookup failed, 5 not issued, and 0 for a ready certificate
# (READY_Q), whose rank, 0 to 4, follows from its notAfter at the time asked
# (``expiry.expiry_state_rank``). The same conditions as ``expiry.expiry_state_q``.
STATUS_RANK = models.Case(
    models.When(last_checked__isnull=True, then=models.Value(7)),
    models.When(
        ~models.Q(last_error_code="")
        | ~models.Q(status__in=[0, 1, 2])
        | models.Q(status=2, not_after__isnull=True),
        then=models.Value(6),
    ),
    models.When(status__in=[0, 1], then=models.Value(5)),
    default=models.Value(0),
)


# The columns READY_Q and LISTED_Q test besides notAfter (see the expiry indexes).
_READY_COLUMNS = ("last_checked", "last_error_code", "status", "removed_at")


# Records of devices the platform still lists: what every list, count and export shows unless
# it asks for the removed ones.
LISTED_Q = models.Q(removed_at__isnull=True)
# The device tables' filter (``state``) that shows the removed records instead.
REMOVED_STATE = "removed"


def default_account_name() -> str:
    """The default API account's name: what rows made before named accounts belong to."""
    return settings.IOT_DEFAULT_ACCOUNT


def account_field() -> models.CharField:
    """The API account (certadmin/iot/accounts.py) a device or job belongs to: the same
    ProductKey and DeviceName on two accounts are two devices."""
    return models.CharField(_("API account"), max_length=32, default=default_account_name)


class ChainStatus(models.TextChoices):
    """The outcome of checking a certificate against the configured CA bundle."""

    VERIFIED = "verified", _("verified")
    UNVERIFIED = "unverified", _("unverified")
    INVALID = "invalid", _("invalid")


class NodeType(models.IntegerChoices):
    """What a device is on the platform (``NodeType`` of the detail calls)."""

    DEVICE = 0, _("device")
    GATEWAY = 1, _("gateway")


class CertificateRecord(models.Model):
    """The last known public state of one device's certificate, from its last lookup.

    Written by a certificate page's lookup and by product syncs and batch lookups; a failed
    lookup records its error Code and keeps the certificate fields of the last good one.
    """

    account = account_field()
    product_key = models.CharField(_("ProductKey"), max_length=64)
    device_name = models.CharField(_("DeviceName"), max_length=64)
    # Empty string for the public instance, so the uniqueness constraint holds.
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    # From QueryDevice, when a product sync listed the device.
    nickname = models.CharField(_("nickname"), max_length=128, blank=True, default="")
    device_status = models.CharField(_("device status"), max_length=32, blank=True, default="")
    # From BatchQueryDeviceDetail, when a product sync asked it (``context_checked_at``): what
    # the device is (NodeType), the firmware of its default OTA module, when it was first
    # activated (None: never, or not known). Never its DeviceSecret.
    node_type = models.PositiveSmallIntegerField(
        _("node type"), choices=NodeType.choices, null=True, blank=True
    )
    firmware_version = models.CharField(
        _("firmware version"), max_length=64, blank=True, default=""
    )
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    context_checked_at = models.DateTimeField(_("device details checked"), null=True, blank=True)
    # The certificate's status (0 being generated, 1 failed, 2 ready); None until a lookup
    # of this device succeeded.
    status = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    cert_sn = models.CharField(_("CertSN"), max_length=128, blank=True, default="")
    # The certificate text the API returned with any key material stripped (public data), so
    # a repeat view can be decoded again without spending API quota.
    certificate = models.TextField(_("certificate"), blank=True, default="")
    sha256_fingerprint = models.CharField(_("SHA-256 fingerprint"), max_length=95, blank=True)
    # Colon-separated upper-case hex, as the certificate page shows it.
    serial = models.CharField(_("serial"), max_length=128, blank=True, default="")
    subject = models.TextField(_("subject"), blank=True, default="")
    issuer = models.TextField(_("issuer"), blank=True, default="")
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    not_after = models.DateTimeField(_("not after"), null=True, blank=True)
    # Facts of the certificate's key and signature, decoded once when the record is stored, so
    # the fleet's checks (certadmin/findings) read columns instead of decoding every PEM:
    # the SHA-256 of its SubjectPublicKeyInfo (lowercase hex, also names the key pair), the key's
    # algorithm ("RSA", "EC", "Ed25519"…), size in bits, EC curve, and the signature's hash.
    public_key_sha256 = models.CharField(
        _("public key SHA-256"), max_length=64, blank=True, default=""
    )
    key_algorithm = models.CharField(_("key algorithm"), max_length=32, blank=True, default="")
    key_size = models.PositiveIntegerField(_("key size"), null=True, blank=True)
    key_curve = models.CharField(_("key curve"), max_length=32, blank=True, default="")
    signature_hash = models.CharField(_("signature hash"), max_length=16, blank=True, default="")
    # Whether the key the API returned matches the certificate, worked out on the server at
    # lookup time (the key itself is never kept). None when there was no key to check.
    key_matches = models.BooleanField(_("key matches certificate"), null=True, blank=True)
    # Against the CA bundle at lookup time; "" when there was no certificate to check.
    chain_status = models.CharField(
        _("chain status"), max_length=16, choices=ChainStatus.choices, blank=True, default=""
    )
    # The platform's error Code when the last lookup failed (e.g. iot.device.NotExistedDevice);
    # "" when it succeeded.
    last_error_code = models.CharField(_("last error code"), max_length=128, blank=True, default="")
    request_id = models.CharField(_("RequestId"), max_length=128, blank=True, default="")
    # Empty for a device a product sync listed but has not looked up yet.
    last_checked = models.DateTimeField(_("last checked"), null=True, blank=True)
    # The device's listing row (QueryDevice ``UtcModified``) as it was at the last lookup a sync
    # made: an incremental sync looks up again the devices whose row changed since ("": unknown).
    listing_modified = models.CharField(_("listing changed"), max_length=64, blank=True, default="")
    # When a product sync's listing last had the device (None: never listed by a sync).
    listed_at = models.DateTimeField(_("last listed"), null=True, blank=True)
    # When a complete listing of the product no longer had the device (None: listed). The
    # record is kept, but lists, counts, the expiry overview and exports leave it out unless
    # asked for (``LISTED_Q``); a listing that has the device again clears it.
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    # Kept by the database on every write, however the record is written: the device list sorts
    # by status from it and notAfter instead of classifying every record of the product.
    status_rank = models.GeneratedField(
        expression=STATUS_RANK,
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
        verbose_name=_("status rank"),
    )

    class Meta:
        verbose_name = _("certificate record")
        verbose_name_plural = _("certificate records")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "device_name", "iot_instance_id"],
                name="unique_certificate_record_per_account_device",
            )
        ]
        # A product's device list, expiry overview and lookups by a certificate's identifiers.
        indexes = [
            models.Index(fields=["not_after"], name="certrecord_not_after"),
            # removed_at and listed_at ride along so that a product's total (of the devices
            # listed, when a search narrows it) and the probes and stale counts of its coverage
            # (``selectors.products_coverage``) are answered from these indexes alone:
            # PostgreSQL then reads no row of the table for them.
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "device_name", "removed_at"],
                name="certrecord_acct_name_listed",
            ),
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "not_after"],
                name="certrecord_acct_expiry",
            ),
            models.Index(
                fields=[
                    "account",
                    "product_key",
                    "iot_instance_id",
                    "last_checked",
                    "removed_at",
                    "listed_at",
                ],
                name="certrecord_acct_coverage",
            ),
            # The expiry overview: ready certificates by notAfter (counts per window, the chart's
            # months) for one product and for every product, and the few records not ready; of
            # the devices still listed (LISTED_Q, as every count asks), so that PostgreSQL counts
            # from the index alone instead of visiting each row for ``removed_at``. The ready
            # ones also carry the columns of their condition: SQLite reads a partial index
            # alone only when it holds every column the query names (else a row per entry).
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "not_after", *_READY_COLUMNS],
                condition=READY_Q & LISTED_Q,
                name="certrecord_acct_ready_listed",
            ),
            models.Index(
                fields=["not_after", "account", *_READY_COLUMNS],
                condition=READY_Q & LISTED_Q,
                name="certrecord_ready_listed",
            ),
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "last_checked"],
                condition=NOT_READY_Q & LISTED_Q,
                name="certrecord_acct_unready_listed",
            ),
            # The status sort (``selectors.StatusSortedRecords``): one state's records by name,
            # a page deep in it skipped over this index alone (the key rides along).
            models.Index(
                fields=[
                    "account",
                    "product_key",
                    "iot_instance_id",
                    "status_rank",
                    "device_name",
                    "not_after",
                    "removed_at",
                    "id",
                ],
                # Only queries naming status_rank (so implying this) may use it: the counts of
                # records not ready keep their own index (SQLite, without statistics, took this
                # one for them when it was a full index).
                condition=models.Q(status_rank__isnull=False),
                name="certrecord_acct_rank_name",
            ),
            # "Days left, most first" (notAfter DESC NULLS LAST) has its own indexes on
            # PostgreSQL (migration 0009_inventory_days_left_desc_indexes).
            models.Index(fields=["cert_sn"], name="certrecord_cert_sn"),
            models.Index(fields=["sha256_fingerprint"], name="certrecord_fingerprint"),
            models.Index(fields=["serial"], name="certrecord_serial"),
            # Devices sharing one key pair (findings' key.shared; who else holds this key).
            models.Index(fields=["public_key_sha256"], name="certrecord_public_key"),
            # A product's last listing (``ProductCoverage.last_listed``): one probe, not a scan.
            # Partial, so that only a query asking for a listing time may use it (SQLite,
            # without statistics, took it for the counts of records not ready).
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "listed_at"],
                condition=models.Q(listed_at__isnull=False),
                name="certrecord_acct_listed_at",
            ),
        ]
        default_permissions = ("view",)
        permissions = model_permissions("devices", "certificaterecord")

    def __str__(self) -> str:
        return f"{self.product_key}/{self.device_name}"


class RecentDevice(models.Model):
    """A device a user looked at, for the "recently viewed" list on the home page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    account = account_field()
    product_key = models.CharField(max_length=64)
    device_name = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    viewed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account", "product_key", "device_name", "iot_instance_id"],
                name="unique_recent_account_device_per_user",
            )
        ]
        indexes = [models.Index(fields=["user", "-viewed_at"], name="recentdevice_user_time")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.product_key}/{self.device_name}"


class InventoryVersion(models.Model):
    """A random number that changes with every write to one product's inventory records (of
    one API account and instance), in the same transaction as the write: the expiry overview's
    cached counts are keyed on it (``devices.expiry_cache``), so a write shows at once and a
    cached value is never read for another product, account or instance."""

    account = account_field()
    product_key = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    version = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id"],
                name="unique_inventory_version_per_product",
            )
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.account}/{self.product_key}: {self.version}"


class ProductSync(models.Model):
    """When a product was last synced (by a sync job whose listing was complete, so the
    inventory holds every device it listed), and how many devices it had then: whether its
    device list can come from the inventory. ``mode`` is that sync's; ``full_synced_at`` the
    end of the last full one (an incremental sync looks up only some devices)."""

    account = account_field()
    product_key = models.CharField(_("ProductKey"), max_length=64)
    iot_instance_id = models.CharField(_("IotInstanceId"), max_length=128, blank=True, default="")
    device_count = models.PositiveIntegerField(_("devices"))
    failed_count = models.PositiveIntegerField(_("failed lookups"), default=0)
    synced_at = models.DateTimeField(_("last synced"))
    mode = models.CharField(_("sync mode"), max_length=16, blank=True, default="full")
    full_synced_at = models.DateTimeField(_("last full sync"), null=True, blank=True)
    # The sync job that made it. Named, not imported: the jobs app sits above this one.
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        # Made by the jobs app, before the model moved here.
        db_table = "jobs_productsync"
        verbose_name = _("product sync")
        verbose_name_plural = _("product syncs")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_key", "iot_instance_id"],
                name="unique_product_sync_per_account",
            )
        ]

    def __str__(self) -> str:
        return self.product_key


class ProductCounts(models.Model):
    """One product's counts of records (of one API account and instance), kept in step with
    ``CertificateRecord`` by database triggers (migration 0021_inventory_kept_counts) on every
    insert, update and delete, whoever writes: its records (removed ones included), and of the
    devices still listed those never checked, failed and not issued (``expiry.EXPIRY_STATES``,
    from the stored ``status_rank``); the devices no longer listed. The ready ones and the
    checked ones are counted per day (``ProductDayCounts``). Read by ``devices.kept_counts``.

    A product may have several rows (on PostgreSQL each write adds its changes as a row of its
    own, folded now and then): its counts are their sums."""

    account = models.CharField(max_length=32)
    product_key = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    records = models.BigIntegerField(default=0)
    never = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    not_issued = models.BigIntegerField(default=0)
    removed = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()
        indexes = [
            models.Index(
                fields=["account", "product_key", "iot_instance_id"], name="productcounts_product"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}/{self.product_key}: {self.records}"


class ProductDayCounts(models.Model):
    """Per product and UTC day, kept by the same triggers as ``ProductCounts``: the listed
    records with a ready certificate (``READY_Q``) whose notAfter falls on that day, and the
    listed records last checked on that day. A count up to any instant is the whole days before
    its day from here plus the records of its own day before it, counted from an index."""

    account = models.CharField(max_length=32)
    product_key = models.CharField(max_length=64)
    iot_instance_id = models.CharField(max_length=128, blank=True, default="")
    day = models.DateField()
    ready = models.BigIntegerField(default=0)
    checked = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()
        indexes = [
            models.Index(
                fields=["account", "product_key", "iot_instance_id", "day"],
                name="productdaycounts_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}/{self.product_key} {self.day}: {self.ready}, {self.checked}"
