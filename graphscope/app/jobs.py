"""Background profiling runs: a small job manager so a run never blocks the server.

Each job runs on a worker thread and belongs to one browser session: ``get`` and ``active`` only
answer the session that submitted it, so two sessions never see each other's runs. The work function
reports progress through the ``Progress`` it is given (the page polls ``Job.snapshot()`` with a
``dcc.Interval``); an exception ends the job as "failed" with its message, shown by the page that
started it, and the server keeps going.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
MAX_FINISHED_JOBS = 256  # finished jobs kept for their pages to read, oldest dropped first

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class Job:
    id: str
    session: str
    label: str
    status: str = QUEUED
    stage: str = "waiting for a worker"
    done: int = 0
    total: int = 0
    error: str | None = None
    result: str | None = None  # what the work returned (a run id)
    submitted: float = field(default_factory=time.time)
    finished: float | None = None
    overlapped: bool = False  # another job ran at the same time: both runs' timings shared the CPUs

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy (the worker keeps changing the job)."""
        return {"id": self.id, "label": self.label, "status": self.status, "stage": self.stage, "done": self.done,
                "total": self.total, "error": self.error, "result": self.result,
                "elapsed_s": (self.finished or time.time()) - self.submitted}


class Progress:
    """What a work function calls to report: ``progress("running", done, total)``."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self._job, self._lock = job, lock

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        with self._lock:
            self._job.stage = stage
            if done is not None:
                self._job.done = done
            if total is not None:
                self._job.total = total

    @property
    def overlapped(self) -> bool:
        with self._lock:
            return self._job.overlapped

    def step(self) -> None:
        """One more unit done (``gs.run``'s per-iteration ``progress=`` callback)."""
        with self._lock:
            self._job.done += 1


def describe_error(exc: BaseException) -> str:
    """One line for the page: graphscope's own errors already name the file, node and line."""
    from graphscope.errors import GraphscopeError

    text = " ".join(str(exc).split())
    if isinstance(exc, GraphscopeError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobManager:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="graphscope-run")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, session: str, label: str, work: Callable[[Progress], str]) -> Job:
        """Queue ``work(progress) -> result`` for ``session``; returns the job at once."""
        job = Job(uuid.uuid4().hex, session, label)
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Progress], str]) -> None:
        with self._lock:
            job.status, job.stage = RUNNING, "starting"
            others = [j for j in self._jobs.values() if j.status == RUNNING and j is not job]
            for j in [job, *others] if others else []:
                j.overlapped = True
        try:
            result = work(Progress(job, self._lock))
        except Exception as exc:  # the page shows it; the server keeps serving
            log.warning("dashboard job %s (%s) failed", job.id, job.label, exc_info=True)
            with self._lock:
                job.status, job.error, job.stage, job.finished = FAILED, describe_error(exc), "failed", time.time()
            return
        with self._lock:
            job.status, job.result, job.stage, job.finished = DONE, result, "done", time.time()

    def get(self, session: str, job_id: str | None) -> Job | None:
        """The job, only for the session that submitted it."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else None
            return job if job is not None and job.session == session else None

    def active(self, session: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.session == session and j.active]

    def wait(self, session: str, job_id: str, timeout: float = 60.0) -> Job | None:
        """Block until the job ends (for tests and scripts; the pages poll instead)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(session, job_id)
            if job is None or not job.active:
                return job
            time.sleep(0.02)
        return self.get(session, job_id)

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if not j.active]
        for j in sorted(done, key=lambda j: j.finished or 0)[: max(len(done) - MAX_FINISHED_JOBS, 0)]:
            del self._jobs[j.id]

    def shutdown(self, wait: bool = False) -> None:
        """Stop taking jobs; queued ones are dropped, a running one finishes (``wait``: block until then)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


__all__ = ["DONE", "FAILED", "QUEUED", "RUNNING", "Job", "JobManager", "Progress", "describe_error"]
