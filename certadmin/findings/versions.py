"""Each product's findings version: a new random number with every write to its findings, in the
transaction of the write (``findings_changed``), so that counts cached under it
(``findings.counts_cache``) are never read after a change."""

import secrets

from certadmin.findings.models import FindingsVersion


def findings_changed(*, account: str, product_key: str, iot_instance_id: str) -> None:
    """Give one product's findings (all empty: the CA bundle's) a new version: every writer of
    findings calls it in the transaction that writes them."""
    FindingsVersion.objects.bulk_create(
        [
            FindingsVersion(
                account=account,
                product_key=product_key,
                iot_instance_id=iot_instance_id,
                version=secrets.randbits(62),
            )
        ],
        update_conflicts=True,
        unique_fields=["account", "product_key", "iot_instance_id"],
        update_fields=["version"],
    )
