"""Response bodies in the two formats the API speaks: JSON and (V1's default) XML."""

import json
from typing import Any
from xml.sax.saxutils import escape

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
XML_CONTENT_TYPE = "text/xml;charset=utf-8"


def _xml(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{name}>{''.join(_xml(k, v) for k, v in value.items())}</{name}>"
    if isinstance(value, list):
        return "".join(_xml(name, item) for item in value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def render(data: dict[str, Any], *, fmt: str, root: str) -> tuple[bytes, str]:
    """``(body, content_type)``: JSON, or XML with ``root`` as the document element.

    In XML a list becomes repeated elements named after its key, as the real API does
    (``<Data><DeviceInfo>…</DeviceInfo><DeviceInfo>…</DeviceInfo></Data>``).
    """
    if fmt == "XML":
        body = '<?xml version="1.0" encoding="UTF-8"?>' + _xml(root, data)
        return body.encode("utf-8", "surrogatepass"), XML_CONTENT_TYPE
    return json.dumps(data).encode("ascii"), JSON_CONTENT_TYPE
