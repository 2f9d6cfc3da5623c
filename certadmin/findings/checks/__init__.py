"""The checks: plain functions over one inventory record's facts (``RecordFacts``) that say
what is wrong with it (a list of ``Observed``, mostly empty). One module per concern;
``record_findings`` runs them all for one record. Nothing here reads the database: ``runs``
feeds the records and keeps the findings. They run a million times in a large run: each
returns on its first comparison for a record it has nothing to say about.
"""

from certadmin.findings.checks import (
    age,
    chain,
    device_state,
    expiry,
    freshness,
    generation,
    keys,
    lint,
)
from certadmin.findings.checks.facts import Observed, RecordFacts, RunContext
from certadmin.findings.device_ranks import device_rank

RECORD_CHECKS = (
    expiry.expiry_findings,
    device_state.inactive_device_findings,
    keys.weak_key_findings,
    keys.shared_key_findings,
    chain.chain_findings,
    generation.generation_findings,
    age.age_findings,
    lint.lint_findings,
    freshness.freshness_findings,
)


def record_findings(record: RecordFacts, context: RunContext) -> list[Observed]:
    """Every problem of one record, each ranked by its device (``device_rank``)."""
    found = []
    for check in RECORD_CHECKS:
        found += check(record, context)
    if found:
        rank = device_rank(record.device_status, record.node_type)
        for observed in found:
            observed.device_rank = rank
    return found
