"""The daemon's sleep job: ``nuonuo.scheduler.SleepScheduler`` (APScheduler: nightly cron from
``[sleep] schedule``, idle trigger from ``[sleep] idle_minutes``, misfire catch-up, never two runs at
once) started and stopped with the daemon, and what ``daemon status`` shows of it.

The last report is persisted by the consolidation itself (the store's ``meta`` table), so it
survives restarts; a manual ``consolidate`` request goes through the same scheduler lock, so it
never runs beside a scheduled one (it answers 409 instead).
"""

from __future__ import annotations

from typing import Any

from nuonuo.errors import NuonuoError, StoreError, StoreLocked
from nuonuo.records import to_iso


class SleepJob:
    def __init__(self, service: Any, scheduler_cls: Any):
        self.service = service
        self.scheduler = scheduler_cls(service.memory)

    @classmethod
    def create(cls, service: Any) -> "SleepJob | None":
        try:
            from nuonuo.scheduler import SleepScheduler
        except ImportError:
            return None
        if getattr(service.memory.config, "sleep", None) is None:
            return None
        return cls(service, SleepScheduler)

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop the triggers; waits for a run in progress to finish (it is never cut in half)."""
        self.scheduler.stop()

    def run_now(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """A manual run. With ``options`` (epochs, noise, paraphrase) it bypasses the scheduler's job
        but still takes the scheduler's run lock, so it never overlaps a scheduled run."""
        self.scheduler.memory = self.service.reader()  # on object storage: the freshest memory
        if options:
            return self._run_with(options)
        report = self.scheduler.run_now(reason="manual")
        if report is None:
            if isinstance(self.scheduler.last_exception, StoreError) and not self.scheduler.busy:
                raise self.scheduler.last_exception
            if self.scheduler.last_error and not self.scheduler.busy:
                raise NuonuoError(f"the sleep run failed: {self.scheduler.last_error}")
            raise StoreLocked("a sleep run is already in progress; try again when it ends "
                              "(`nuonuo daemon status` shows it)")
        return report

    def _run_with(self, options: dict[str, Any]) -> dict[str, Any]:
        with self.scheduler.exclusive() as ours:
            if not ours:
                raise StoreLocked("a sleep run is already in progress; try again when it ends")
            report = dict(self.scheduler.memory.consolidate(**options) or {}, reason="manual")
            self.scheduler.last_report = report
            return report

    def describe(self) -> dict[str, Any]:
        nxt = self.scheduler.next_run()
        report = self.scheduler.last_report
        if report is None:
            from nuonuo.consolidation import last_report

            report = last_report(self.service.memory)
        cfg = self.service.memory.config.sleep
        return {
            "next_run": nxt.isoformat() if nxt else None,
            "schedule": cfg.schedule or None,
            "idle_minutes": cfg.idle_minutes or None,
            "running": self.scheduler.busy,
            "last_run": to_iso(report.get("started")) if report and report.get("started") else None,
            "last_report": report,
            "last_error": self.scheduler.last_error,
        }
