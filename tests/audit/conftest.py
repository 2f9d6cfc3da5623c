"""Audit tests keep their signed checkpoints in a directory of their own."""

import pytest


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    """The test's ``AUDIT_CHECKPOINT_DIR`` (empty, not the project's var/ directory)."""
    directory = tmp_path / "audit-checkpoints"
    settings.AUDIT_CHECKPOINT_DIR = str(directory)
    return directory
