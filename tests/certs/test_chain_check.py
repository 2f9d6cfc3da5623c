import os
import sys
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certadmin.certs import chain_check
from certadmin.certs.chain_check import ca_bundle_file_read, check_chain
from certadmin.certs.loading import CertificateDecodeError, load_ca_bundle
from tests.support.certificates import make_ca, make_leaf, name

NOW = datetime(2030, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def chain_ca():
    return make_ca(not_before=NOW - timedelta(days=365), not_after=NOW + timedelta(days=3650))


def _leaf(ca, **validity):
    validity.setdefault("not_before", NOW - timedelta(days=1))
    validity.setdefault("not_after", NOW + timedelta(days=365))
    return make_leaf(ca, **validity)


def test_leaf_signed_by_bundled_ca_is_verified(chain_ca):
    leaf = _leaf(chain_ca)
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert result.status == "verified"
    assert result.issuer == chain_ca.cert


def test_issuer_missing_from_bundle_is_unverified(chain_ca):
    other = make_ca(subject=name("Some other CA"), key_slot=3)
    result = check_chain(_leaf(chain_ca).cert, [other.cert], NOW)
    assert result.status == "unverified"
    assert result.issuer is None
    assert result.reason == "issuer not in the configured CA bundle"


def test_ca_with_same_name_but_other_key_is_invalid(chain_ca):
    impostor = make_ca(key_slot=4, not_before=NOW - timedelta(days=1))
    assert impostor.cert.subject == chain_ca.cert.subject
    result = check_chain(_leaf(chain_ca).cert, [impostor.cert], NOW)
    assert result.status == "invalid"
    assert "bad signature" in result.reason


def test_right_ca_is_found_among_same_named_ones(chain_ca):
    impostor = make_ca(key_slot=4, not_before=NOW - timedelta(days=1))
    result = check_chain(_leaf(chain_ca).cert, [impostor.cert, chain_ca.cert], NOW)
    assert result.status == "verified"
    assert result.issuer == chain_ca.cert


def test_expired_leaf_is_invalid(chain_ca):
    leaf = _leaf(chain_ca, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "certificate expired")


def test_not_yet_valid_leaf_is_invalid(chain_ca):
    leaf = _leaf(chain_ca, not_before=NOW + timedelta(days=1))
    result = check_chain(leaf.cert, [chain_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "certificate not yet valid")


def test_expired_ca_makes_the_chain_invalid():
    old_ca = make_ca(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    leaf = _leaf(old_ca)
    result = check_chain(leaf.cert, [old_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "CA certificate expired")


def test_issuer_that_is_not_a_ca_is_invalid():
    not_a_ca = make_leaf(subject=name("Leaf pretending"), key_slot=5)
    fake_issued = make_leaf(
        type("Issuer", (), {"cert": not_a_ca.cert, "key": not_a_ca.key})(),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    result = check_chain(fake_issued.cert, [not_a_ca.cert], NOW)
    assert (result.status, result.reason) == ("invalid", "issuer certificate is not a CA")


def test_ca_bundle_loads_every_certificate_and_ignores_other_blocks(chain_ca, rsa_leaf):
    other = make_ca(subject=name("Second CA"), key_slot=3)
    text = (chain_ca.cert_pem + rsa_leaf.key_pem() + other.cert_pem).replace("\n", "\r\n")
    assert load_ca_bundle(text) == [chain_ca.cert, other.cert]


def test_empty_ca_bundle_is_an_empty_list():
    assert load_ca_bundle("") == []
    assert load_ca_bundle("  \n") == []


def test_corrupt_block_in_ca_bundle_is_reported_with_its_position(chain_ca):
    corrupt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateDecodeError, match="block 2"):
        load_ca_bundle(chain_ca.cert_pem + corrupt)


# --- the CA bundle file: say why it cannot serve -----------------------------


def _unusable_bundles(tmp_path, ca):
    """(path, expected reason) for every way a CA bundle file can be of no use."""
    leaf = _leaf(ca)
    cases = {
        "missing": (tmp_path / "absent.pem", None, "the file does not exist"),
        "in a missing directory": (tmp_path / "no" / "ca.pem", None, "the file does not exist"),
        "a directory": (tmp_path / "ca-dir", "dir", "a directory, not a file"),
        "empty": (tmp_path / "empty.pem", b"", "the file is empty"),
        "blank": (tmp_path / "blank.pem", b" \n\r\n\t\n", "the file is empty"),
        "text": (tmp_path / "text.pem", b"see the wiki for the CA\n", "no certificate in the file"),
        "a private key only": (
            tmp_path / "key.pem",
            leaf.key_pem().encode(),
            "no certificate in the file, only a private key",
        ),
        "a PKCS#1 key only": (
            tmp_path / "rsa-key.pem",
            leaf.key_pem(pkcs="pkcs1").encode(),
            "no certificate in the file, only a private key",
        ),
        "a CSR only": (
            tmp_path / "csr.pem",
            b"-----BEGIN CERTIFICATE REQUEST-----\nTUlJ\n-----END CERTIFICATE REQUEST-----\n",
            "no certificate in the file",
        ),
        "not UTF-8": (tmp_path / "bin.pem", b"\xff\xfe\x00\x01", "not UTF-8 text"),
    }
    for path, content, _ in cases.values():
        if content == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
    return {label: (str(path), reason) for label, (path, _, reason) in cases.items()}


def test_an_unusable_ca_bundle_file_says_why(tmp_path, chain_ca):
    for label, (path, reason) in _unusable_bundles(tmp_path, chain_ca).items():
        certificates, problem = ca_bundle_file_read(path)
        assert certificates == (), label
        assert problem.startswith(reason), (label, problem)
    # Whatever the file holds is never quoted.
    assert "PRIVATE" not in ca_bundle_file_read(str(tmp_path / "key.pem"))[1]


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo)
    assert ca_bundle_file_read(str(fifo)) == ((), "not a regular file")
    assert ca_bundle_file_read("/dev/zero") == ((), "not a regular file")


def _as_nobody(function, *args) -> str:
    """``function(*args)`` in a forked child that runs as nobody when the tests run as root
    (root reads any file), its text result sent back through a pipe."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Other tests leave threads (an emulator) running; the child takes no lock they might
        # hold: it changes user, opens and reads one file, writes to a pipe and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        status = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            os.write(write_end, str(function(*args)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = pipe.read().decode()
    assert os.waitpid(child, 0)[1] == 0
    return result


def test_an_unreadable_ca_bundle_file_says_permission_denied(tmp_path, chain_ca):
    path = tmp_path / "ca.pem"
    path.write_text(chain_ca.cert_pem)
    path.chmod(0)
    tmp_path.chmod(0o755)

    problem = _as_nobody(lambda: ca_bundle_file_read(str(path))[1])

    assert problem == "permission denied (the server cannot read the file)"


def test_a_bundle_with_a_certificate_and_other_blocks_serves(tmp_path, chain_ca):
    path = tmp_path / "ca.pem"
    path.write_text("# our CA\n" + _leaf(chain_ca).key_pem() + chain_ca.cert_pem)
    assert ca_bundle_file_read(str(path)) == ((chain_ca.cert,), "")


def test_no_ca_certificate_is_not_reported_as_an_issuer_missing_from_the_bundle(chain_ca):
    result = check_chain(_leaf(chain_ca).cert, [], NOW)
    assert result.status == "unverified"
    assert result.reason == "no CA certificate configured to check against"


def test_a_checked_certificate_is_not_kept_by_the_signature_cache(chain_ca):
    # A sync checks each device's certificate once: a cache holding the certificates grew a
    # task worker with every device synced until it was full (issue 21 item 6).
    leaf = _leaf(chain_ca).cert
    references = sys.getrefcount(leaf)
    assert check_chain(leaf, [chain_ca.cert], NOW).status == "verified"
    assert sys.getrefcount(leaf) == references


def test_the_signature_cache_answers_again_by_the_certificates_and_keeps_a_bounded_number(
    chain_ca, monkeypatch
):
    monkeypatch.setattr(chain_check, "SIGNATURE_CHECKS_KEPT", 3)
    impostor = make_ca(key_slot=4, not_before=NOW - timedelta(days=1))
    leaves = [_leaf(chain_ca).cert for _ in range(4)]
    for leaf in leaves:
        assert check_chain(leaf, [chain_ca.cert], NOW).status == "verified"
        # The same certificate against another CA of that name is another check.
        assert check_chain(leaf, [impostor.cert], NOW).status == "invalid"
    assert len(chain_check._signature_checks) == 3
    # A copy of a certificate (decoded again) gets the same answer.
    again = x509.load_der_x509_certificate(leaves[-1].public_bytes(serialization.Encoding.DER))
    assert check_chain(again, [chain_ca.cert], NOW).status == "verified"
    assert check_chain(again, [impostor.cert], NOW).status == "invalid"
