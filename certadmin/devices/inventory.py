"""TEMPORARY stand-in for H5's inventory module (the merger takes H5's version).

Only ``device_certificate_check`` with the agreed signature, built on the existing
``inventory_store``. Unlike the real one it does not store a per-device business error: it
raises the ``IotBusinessError`` (the job runner handles both).
"""

from certadmin.devices.models import CertificateRecord
from certadmin.devices.services import (
    DeviceRef,
    _decode_if_any,
    inventory_store,
    key_matches_certificate,
)
from certadmin.iot.client import IotClient
from certadmin.iot.results import DeviceListing


def device_certificate_check(
    *, device: DeviceRef, client: IotClient, listing: DeviceListing | None = None
) -> CertificateRecord:
    """One QueryDeviceCert; stores the public fields (never the key)."""
    result = client.query_device_cert(
        product_key=device.product_key,
        device_name=device.device_name,
        iot_instance_id=device.iot_instance_id or None,
    )
    decoded = _decode_if_any(result.certificate)
    matches = key_matches_certificate(decoded.certificate if decoded else None, result.private_key)
    return inventory_store(result=result, key_matches=matches, decoded=decoded)
