"""A local stand-in for Alibaba Cloud IoT Platform's API endpoint, for the demo and tests.

It verifies V3 and V1 signatures, timestamps and nonces, enforces each action's quota per
account, answers QueryDeviceCert, QueryDevice (with NextToken), BatchQueryDeviceDetail and
QueryDeviceDetail for seeded devices (see :mod:`.seed`) whose certificates it issues from its
own CA, and can inject faults. Start one with
:func:`certadmin.emulator.server.start_emulator` or ``manage.py iot_emulator``.

Pure Python: nothing here imports Django except the management command and the AppConfig.
"""

from certadmin.emulator.seed import (
    DEMO_PRODUCT_KEY,
    ENTERPRISE_INSTANCE_ID,
    ENTERPRISE_PRODUCT_KEY,
    SEEDED_DEVICES,
)

__all__ = ["DEMO_PRODUCT_KEY", "ENTERPRISE_INSTANCE_ID", "ENTERPRISE_PRODUCT_KEY", "SEEDED_DEVICES"]
