"""Each product's findings version: a new random number with every write to its findings, in the
transaction of the write (``findings_changed``), so that counts and rows cached under it
(``findings.counts_cache``) are never read after a change."""

from certadmin.devices.inventory import product_version_renew
from certadmin.findings.models import FindingsVersion


def findings_changed(*, account: str, product_key: str, iot_instance_id: str) -> None:
    """Give one product's findings (all empty: the CA bundle's) a new version: every writer of
    findings calls it in the transaction that writes them."""
    product_version_renew(
        FindingsVersion,
        account=account,
        product_key=product_key,
        iot_instance_id=iot_instance_id,
    )
