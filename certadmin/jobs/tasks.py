"""The job's task functions: thin. The work and its progress live in ``runner`` and the models.

Every task is declared on the "interactive" queue; ``services.job_runs_enqueue`` puts a long
job's runs on the "sync" queue instead (``settings.TASKS``, "Background jobs").
"""

from django.conf import settings
from django.tasks import task

from certadmin.jobs import runner


@task(queue_name=settings.JOB_QUEUE_INTERACTIVE)
def job_work(job_id: int) -> str:
    """Work on a job until no item is left to claim (one of the job's several task runs)."""
    return runner.job_work(job_id=job_id)


@task(queue_name=settings.JOB_QUEUE_INTERACTIVE)
def job_watch(job_id: int) -> str:
    """Every lease period while the job is active: revive it if its workers died."""
    return runner.job_watch(job_id=job_id)


@task(queue_name=settings.JOB_QUEUE_INTERACTIVE)
def chain_verification_work(job_id: int) -> str:
    """Verify the audit chain for a chain-verification job, writing its progress."""
    return runner.chain_verification_work(job_id=job_id)
