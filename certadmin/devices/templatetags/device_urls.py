"""How device URLs name a device's instance and API account: ``{{ device|device_query }}``
("?instance=…&account=…", or nothing) and ``{{ device|device_params }}`` (the same to append
after other parameters). One spelling for every template; the views use ``device_query``."""

from django import template

from certadmin.devices.services import device_query as _device_query

register = template.Library()


@register.filter
def device_query(device) -> str:
    """``?instance=…&account=…`` for a device that needs them, else ""."""
    return _device_query(device)


@register.filter
def device_params(device) -> str:
    """``&instance=…&account=…`` to append to a query string, else ""."""
    query = _device_query(device)
    return "&" + query[1:] if query else ""
