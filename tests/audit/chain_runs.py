"""Running the queued *Verify now* job in the test's process, as a worker would."""

from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobKind


def verification_run() -> Job:
    """Run the chain verification that *Verify now* queued (there must be exactly one), the
    way a task worker runs it; return the job as it ended."""
    job = Job.objects.get(kind=JobKind.CHAIN_VERIFY, state="queued")
    runner.chain_verification_work(job_id=job.pk)
    job.refresh_from_db()
    return job
