"""RFC 5280 problems of an end-entity certificate, found by pkilint's RFC 5280 certificate
validator (the one its ``lint_pkix_cert`` command runs). pkilint is slow next to the other
checks (milliseconds a certificate), so ``runs`` lints each certificate once, by fingerprint,
and keeps the result (``LintResult``)."""

import functools
from importlib.metadata import version

from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.codes import CERT_LINT
from certadmin.findings.severity import Severity

# pkilint's severities kept, and what each makes a finding. WARNING is kept and reported only
# when the policy asks (``lint_warnings``); NOTICE and below are not problems.
LINT_SEVERITY = {"FATAL": Severity.HIGH, "ERROR": Severity.MEDIUM, "WARNING": Severity.LOW}


def linter_version() -> str:
    """pkilint's version: results of another version are linted again."""
    return version("pkilint")


@functools.cache
def _validator():
    from pkilint.pkix import certificate, extension, name

    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


def certificate_lint(der: bytes) -> list[list[str]]:
    """pkilint's problems of one certificate: ``[severity, code]`` pairs, each once, in
    pkilint's order; FATAL, ERROR and WARNING only. A certificate pkilint cannot decode at all
    is one FATAL ``certificate.undecodable``."""
    from pkilint import loader

    try:
        document = loader.load_der_certificate(der, "certificate")
        results = _validator().validate(document.root)
    except Exception:  # pkilint raises many kinds on malformed DER; all mean the same here
        return [["FATAL", "certificate.undecodable"]]
    problems: list[list[str]] = []
    for result in results:
        for description in result.finding_descriptions:
            pair = [description.finding.severity.name, description.finding.code]
            if pair[0] in LINT_SEVERITY and pair not in problems:
                problems.append(pair)
    return problems


def lint_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    problems = (
        context.lint_problems.get(record.sha256_fingerprint) if record.sha256_fingerprint else None
    )
    if not problems:
        return []
    return [
        Observed(
            CERT_LINT,
            LINT_SEVERITY[severity_name],
            record.device_name,
            subject=code[:128],
            detail=f"{severity_name}: {code}"[:255],
        )
        for severity_name, code in problems
        if severity_name != "WARNING" or context.policy.lint_warnings
    ]
