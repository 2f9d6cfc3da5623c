"""Inventory rows written before only parsed certificates were stored may hold the platform's
text as received (with PEM key blocks stripped, but not key material in other shapes). Keep a
row's certificate only if it parses, re-encoded as PEM; blank it otherwise (a page then asks the
platform again)."""

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.db import migrations


def _reencoded(text: str) -> str:
    # Copied rules, not the app's: a migration must not change with the app.
    try:
        if "-----BEGIN CERTIFICATE-----" in text:
            certificate = x509.load_pem_x509_certificate(text.strip().encode("ascii"))
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            certificate = x509.load_der_x509_certificate(der)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return ""
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def reencode_certificates(apps, schema_editor):
    record_model = apps.get_model("devices", "CertificateRecord")
    for record in record_model.objects.exclude(certificate="").iterator(chunk_size=500):
        clean = _reencoded(record.certificate)
        if clean != record.certificate:
            record.certificate = clean
            record.save(update_fields=["certificate"])


class Migration(migrations.Migration):
    dependencies = [("devices", "0004_inventory_search_trigram")]

    operations = [migrations.RunPython(reencode_certificates, migrations.RunPython.noop)]
