"""Certificates decoded and summarised per second on one core, next to the raw floor.

"decode + summary" is what the inventory and the certificate page do with a certificate string
(``certadmin.devices.inventory.certificate_decode``: load the PEM, ``certificate_details`` with
names, key, fingerprints and extensions, and the validity); "details only" is
``certificate_details(load_certificate(pem))``; the floor is cryptography's
``load_pem_x509_certificate`` plus a SHA-256 fingerprint. Certificates: ``--certs`` distinct RSA
and EC device certificates from the emulator's CA (one issuer, as in a fleet).

    .venv/bin/python bench/decode.py [--certs 3000] [--repeats 5] [--quick]
"""

import time
from datetime import UTC, datetime

from common import Stat, bench_args, django_setup, report


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
        certificate_details(load_certificate(pem)).validity(now)

    def product(pem: str) -> None:
        decoded = certificate_decode(pem)
        decoded.details.validity(now)

    cases = {
        "raw load_pem_x509_certificate + SHA-256": floor,
        "certificate_details(load_certificate(pem))": details,
        "decode + summary (inventory.certificate_decode)": product,
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
