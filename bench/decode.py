"""Certificates decoded and summarised per second on one core, next to the raw floor.

"decode + summary" is what a sync does per device with a certificate string
(``certadmin.devices.inventory.certificate_decode``, then every value the inventory stores:
PEM, SHA-256 fingerprint, serial, subject and issuer text, the validity period); "every page
value" is what the certificate page reads (``certificate_details(load_certificate(pem))`` and
every value of it: names, key, both fingerprints, extensions); the floor is cryptography's
``load_pem_x509_certificate`` plus a SHA-256 fingerprint. Certificates: ``--certs`` distinct RSA
and EC device certificates from the emulator's CA (one issuer, as in a fleet).

    .venv/bin/python bench/decode.py [--certs 3000] [--repeats 5] [--quick]
"""

import time
from datetime import UTC, datetime

from common import Stat, bench_args, django_setup, report

PAGE_VALUES = (
    "subject",
    "issuer",
    "subject_text",
    "issuer_text",
    "serial_hex",
    "serial_decimal",
    "public_key_algorithm",
    "public_key_size",
    "public_key_curve",
    "signature_algorithm",
    "sha256_fingerprint",
    "sha1_fingerprint",
    "public_key_sha256",
    "extensions",
    "is_ca",
    "version",
    "pem",
)


def main() -> None:
    args = bench_args(__doc__, repeats=5, certs=3000)
    if args.quick:
        args.certs = 200
    django_setup()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from certadmin.certs.details import certificate_details
    from certadmin.certs.loading import load_certificate
    from certadmin.devices.inventory import certificate_decode
    from certadmin.emulator.ca import CertificateSpec, EmulatorCA

    ca = EmulatorCA()
    specs = [CertificateSpec(key_type="rsa", pooled_key=True), CertificateSpec(key_type="ec")]
    # Every certificate distinct, as a fleet's are (no cache may serve a repeat of one).
    pems = [ca.issue(specs[i % 2]).certificate for i in range(args.certs)]
    now = datetime.now(UTC)

    def floor(pem: str) -> None:
        x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())

    def details(pem: str) -> None:
        d = certificate_details(load_certificate(pem))
        d.validity(now)
        for name in PAGE_VALUES:
            getattr(d, name)

    def product(pem: str) -> None:
        decoded = certificate_decode(pem)
        d = decoded.details
        d.validity(now)
        stored = (decoded.text, d.sha256_fingerprint, d.serial_hex, d.subject_text, d.issuer_text)
        assert all(stored)

    cases = {
        "raw load_pem_x509_certificate + SHA-256": floor,
        "certificate page: every value of certificate_details(load_certificate(pem))": details,
        "decode + summary (inventory.certificate_decode + the values stored)": product,
    }
    stats = {name: Stat() for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            start = time.process_time()
            for i in range(args.certs):
                fn(pems[i])
            stats[name].samples.append(args.certs / (time.process_time() - start))
    floor_rate = stats["raw load_pem_x509_certificate + SHA-256"].median
    report(
        args,
        name="decode",
        title=f"Certificate decode + summary, one core ({args.certs} certificates per repeat)",
        headers=["path", "certificates/s (CPU time)", "share of the raw floor"],
        rows=[
            [name, stat.cell("{:,.0f}"), f"{stat.median / floor_rate:.2f}"]
            for name, stat in stats.items()
        ],
        notes="Target: decode + summary ≥ 5,000/s.",
    )


if __name__ == "__main__":
    main()
