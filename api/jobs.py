"""Analysis runs started over HTTP: recorded as jobs, computed on a background thread of this worker.

One analysis at a time per worker (a run reads every input and uses every core); a request while
one is queued or running anywhere is refused with 409. The job record (:mod:`coverage.runs.jobs`) is in
the database, so any worker answers ``/jobs/{id}``; the run it publishes appears under ``/runs``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from api.errors import INTERNAL_MESSAGE, ApiError
from coverage.errors import Village5gError
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.model.rules import DEFAULT_RULES, RuleSet
from coverage.processes import owner_id
from coverage.runs.jobs import active_job, create_job, fail_orphans, finish_job, job_progress, process_alive, start_job
from coverage.store.storage import Store

log = logging.getLogger("village5g.jobs")


def rules_with(overrides: dict[str, Any] | None) -> RuleSet:
    """The default rule set with ``overrides`` applied; ApiError 400 naming bad keys or values."""
    if not overrides:
        return DEFAULT_RULES
    kinds = {f.name: type(getattr(DEFAULT_RULES, f.name)) for f in fields(RuleSet)}
    problems = []
    for key, value in overrides.items():
        kind = kinds.get(key)
        if kind is None:
            problems.append({"location": f"body.rules.{key}", "message": "未知的规则集参数 (unknown rule-set key)"})
        elif kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append({"location": f"body.rules.{key}", "message": "应为数字 (must be a number)"})
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append({"location": f"body.rules.{key}", "message": "应为整数 (must be an integer)"})
        elif kind is str and not isinstance(value, str):
            problems.append({"location": f"body.rules.{key}", "message": "应为文本 (must be text)"})
    if problems:
        raise ApiError(400, "规则集取值无效 (invalid rule-set values)", code="invalid_parameter", details=problems)
    values: dict[str, Any] = {k: float(v) if kinds[k] is float else v for k, v in overrides.items()}
    return replace(DEFAULT_RULES, **values)  # ConfigError (-> 400) for impossible combinations


class JobRunner:
    """Runs analysis jobs of this worker on one background thread."""

    def __init__(self, store: Store, *, artifacts_dir: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.artifacts_dir = artifacts_dir
        self.limits = limits
        self.owner = owner_id()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="village5g-job")
        self._closed = False

    def recover(self) -> None:
        """Mark failed the jobs and runs of dead processes on this host (a worker or a CLI run killed
        mid-run; the runs' rasters are deleted). Cheap: called on start-up and whenever jobs or runs
        are read or an analysis is requested, so nothing stays ``running`` once its process is gone."""
        from coverage.runs.analysis import reap_dead_runs

        host = self.owner.rpartition(":")[0]
        failed = fail_orphans(self.store, host=host, alive=process_alive)
        if failed:
            log.warning("marked %d interrupted job(s) failed", failed)
        runs = reap_dead_runs(self.store, self.artifacts_dir)
        if runs:
            log.warning("marked %d interrupted run(s) failed: %s", len(runs), ", ".join(map(str, runs)))

    def submit_analysis(self, *, rules: RuleSet, resolution_m: float, operators: list[str] | None, scope: str,
                        parameters: dict[str, Any], requested_by: str | None) -> int:
        """Record an analysis job and queue it; 409 while another one is queued or running, 503
        once the service is shutting down."""
        if self._closed:
            raise ApiError(503, "服务正在停止，请在它恢复后重新开始分析 "
                                "(the service is shutting down; start the analysis again once it is back)",
                           code="unavailable")
        self.recover()
        busy = active_job(self.store, "analysis")
        if busy is not None:
            raise ApiError(409, f"分析任务 {busy} 仍在运行，请等待它完成（GET /jobs/{busy}） "
                                f"(analysis job {busy} is still running; wait for it (GET /jobs/{busy}))")
        job_id = create_job(self.store, kind="analysis", parameters=parameters, owner=self.owner,
                            requested_by=requested_by)
        self._executor.submit(self._run, job_id, rules, resolution_m, operators, scope)
        return job_id

    def _run(self, job_id: int, rules: RuleSet, resolution_m: float, operators: list[str] | None,
             scope: str) -> None:
        from coverage.model.parameters import ModelParameters
        from coverage.runs.analysis import run_analysis

        try:
            start_job(self.store, job_id)
            result = run_analysis(self.store, rules=rules, params=ModelParameters(resolution_m=resolution_m),
                                  operators=operators, scope=scope, artifacts_dir=self.artifacts_dir,
                                  progress=job_progress(self.store, job_id), limits=self.limits)
        except Village5gError as exc:
            log.warning("analysis job %d failed: %s", job_id, exc)
            finish_job(self.store, job_id, error=str(exc))
        except Exception:
            log.exception("analysis job %d failed", job_id)
            finish_job(self.store, job_id, error=INTERNAL_MESSAGE)
        else:
            finish_job(self.store, job_id, run_id=result.run_id)
            log.info("analysis job %d published run %d", job_id, result.run_id)

    def start(self) -> None:
        """Take jobs again after :meth:`shutdown` (an app whose lifespan is run again)."""
        if self._closed:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="village5g-job")
            self._closed = False

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop taking jobs (a running one finishes unless the process exits)."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
