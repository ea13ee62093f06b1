"""`jobrunner.Client`: how an application puts work into the queues and looks it up.

    from datetime import timedelta
    from jobrunner import Client, EnqueueError

    with Client("redis://jobs.internal:6379/0") as jobs:
        job_id = jobs.enqueue("send-email", {"to": "ada@example.com", "template": "welcome"})
        ids = jobs.enqueue_many("send-email", [{"to": a, "template": "news"} for a in readers])
        later = jobs.enqueue("send-email", {...}, delay=timedelta(minutes=10))
        info = jobs.job(job_id)  # JobInfo: state, attempts and their errors, result, times
        page = jobs.jobs("send-email", states=["dead"], where=("to", "ada@example.com"))
        more = jobs.jobs("send-email", states=["dead"], where=("to", "ada@example.com"),
                         cursor=page.next)  # JobPage: jobs newest first, next, examined
        jobs.pause("send-email", "mail relay down")  # no daemon starts its jobs until resumed
        jobs.resume("send-email")
        jobs.cancel(later)  # Cancel.CANCELLED: it never runs; a running one is stopped
        jobs.retry(later)  # a dead or cancelled job back in its queue, history kept

A producer needs no copy of the YAML. It checks each job against the
configuration the daemons publish to the storage: the queue must exist, the
payload must be JSON, fit the queue's `max_payload` (1 MiB unless the queue
says) and match its `payload_schema`, and the idempotency key is rendered
from the queue's template. That configuration is
cached and read again at most once a second (`refresh`), and at once when a
queue is not found, so a reload is seen quickly without a round trip per job.

`EnqueueError` (a `ValueError`) means the job (or the pause of a queue the
configuration does not have) was refused; its message says what was wrong
and what to do. `StorageError` means the storage could not be
reached. A client may be shared by the threads of a process.
"""

from __future__ import annotations

from jobrunner.client.client import Client, Prepared
from jobrunner.client.errors import BatchRefused, EnqueueError, UnknownJob
from jobrunner.client.info import JobInfo, JobPage
from jobrunner.job import MAX_PAYLOAD
from jobrunner.storage import Cancel, Pause, StorageError

__all__ = [
    "MAX_PAYLOAD",
    "BatchRefused",
    "Cancel",
    "Client",
    "EnqueueError",
    "JobInfo",
    "JobPage",
    "Pause",
    "Prepared",
    "StorageError",
    "UnknownJob",
]
