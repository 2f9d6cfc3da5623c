"""Just enough DER to list a certificate's extensions and find its public key when cryptography
will not (a malformed or duplicated extension makes it refuse them all; an unsupported key
algorithm makes it refuse the key).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509


@dataclass(frozen=True)
class RawExtension:
    """One extension as it stands in the certificate: OID, critical flag and undecoded value."""

    oid: str
    critical: bool
    value: bytes


def tbs_public_key_info(cert: x509.Certificate) -> bytes | None:
    """The SubjectPublicKeyInfo DER of the certificate, or None when the TBS cannot be parsed."""
    try:
        tbs, fields = _tbs_fields(cert)
        # version [0] is optional; SubjectPublicKeyInfo is the 6th field after it.
        index = 6 if fields[0][0] == 0xA0 else 5
        _, element_start, _, content_end = fields[index]
        return tbs[element_start:content_end]
    except (ValueError, IndexError):
        return None


def certificate_name_ders(der: bytes) -> tuple[bytes, bytes] | None:
    """The issuer's and the subject's Name DER in a certificate's DER, or None when it cannot be
    parsed: a key for what is known of a name without building cryptography's Name objects."""
    try:
        _, cert_start, _ = _tlv(der, 0)
        _, offset, tbs_end = _tlv(der, cert_start)
        elements = []
        # version [0] is optional; issuer is the 3rd field after it, subject the 5th.
        while offset < tbs_end and len(elements) < 6:
            tag, _, end = _tlv(der, offset)
            elements.append((tag, offset, end))
            offset = end
        first = 1 if elements[0][0] == 0xA0 else 0
        _, issuer_start, issuer_end = elements[first + 2]
        _, subject_start, subject_end = elements[first + 4]
        return der[issuer_start:issuer_end], der[subject_start:subject_end]
    except (ValueError, IndexError):
        return None


def raw_extensions(cert: x509.Certificate) -> list[RawExtension]:
    """Every extension of the certificate, undecoded; empty when the TBS cannot be parsed."""
    try:
        tbs, fields = _tbs_fields(cert)
        wrapper = next(field for field in fields if field[0] == 0xA3)
        _, seq_start, seq_end = _tlv(tbs, wrapper[2])
        extensions = []
        for _, _, start, end in _children(tbs, seq_start, seq_end):
            parts = _children(tbs, start, end)
            oid = _dotted_oid(tbs[parts[0][2] : parts[0][3]])
            critical = len(parts) == 3 and tbs[parts[1][2] : parts[1][3]] != b"\x00"
            value = tbs[parts[-1][2] : parts[-1][3]]
            extensions.append(RawExtension(oid, critical, value))
        return extensions
    except (ValueError, IndexError, StopIteration):
        return []


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the DER element at ``offset``."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in a constructed value."""
    children = []
    offset = start
    while offset < end:
        tag, content_start, content_end = _tlv(data, offset)
        children.append((tag, offset, content_start, content_end))
        offset = content_end
    return children


def _tbs_fields(cert: x509.Certificate) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    tbs = cert.tbs_certificate_bytes
    _, start, end = _tlv(tbs, 0)
    return tbs, _children(tbs, start, end)


def _dotted_oid(der: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in der:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])
