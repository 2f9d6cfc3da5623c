"""The job's task functions: thin. The work and its progress live in ``runner`` and the models."""

from django.tasks import task

from certadmin.jobs import runner


@task
def job_work(job_id: int) -> str:
    """Work on a job until no item is left to claim (one of the job's several task runs)."""
    return runner.job_work(job_id=job_id)


@task
def job_watch(job_id: int) -> str:
    """Every lease period while the job is active: revive it if its workers died."""
    return runner.job_watch(job_id=job_id)


@task
def chain_verification_work(job_id: int) -> str:
    """Verify the audit chain for a chain-verification job, writing its progress."""
    return runner.chain_verification_work(job_id=job_id)
