"""When sleep runs: an APScheduler wrapper around ``nuonuo.consolidation.consolidate``.

Only the daemon (or a CLI command that stays up) starts it; the library never does.

- nightly: ``[sleep] schedule = "HH:MM"`` local time (cron trigger; "" turns it off). A run
  missed while the process was suspended still runs once when it wakes (``coalesce``,
  ``misfire_grace_time``); a run missed while no process was up runs shortly after start
  (catch-up) when the last report is older than the latest scheduled time.
- idle: ``[sleep] idle_minutes = N`` runs after N minutes without writes or recalls, once per
  idle spell (there must have been activity since the last run).
- never two at once: a non-blocking lock; a trigger that fires during a run is skipped (and the
  store's file lock keeps other processes out).
- backups: after a successful run of a local store, a backup (``nuonuo.backup``) is made and only
  the newest ``[store] backups`` are kept. A store fault (a full disk) fails the run with its one
  line in the log, no traceback; the store stays as it was (``consolidate`` commits all or nothing).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator

from nuonuo.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from nuonuo.memory import Memory

log = logging.getLogger("nuonuo.sleep")


def parse_schedule(text: str) -> tuple[int, int] | None:
    """``"HH:MM"`` → (hour, minute); ``""`` → None (no nightly run)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        hh, mm = text.split(":")
        hour, minute = int(hh), int(mm)
    except ValueError:
        raise ConfigError(f"[sleep] schedule must be a local time like \"03:00\", not {text!r}") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"[sleep] schedule {text!r} is not a time of day (00:00-23:59)")
    return hour, minute


class SleepScheduler:
    """Runs ``job(memory)`` (default: ``consolidate``) on the configured triggers."""

    #: a missed nightly run waits for this long without writes or recalls: a run holds the store
    #: (2.9 s at 100K memories), and a recall made meanwhile waits for it
    catch_up_quiet_s = 60.0

    def __init__(self, memory: "Memory", job: Callable[["Memory"], dict] | None = None,
                 misfire_grace_s: int = 6 * 3600):
        from nuonuo.consolidation import consolidate

        self.memory = memory
        self.cfg = memory.config.sleep
        self.job = job or consolidate
        self.misfire_grace_s = misfire_grace_s
        self._running = threading.Lock()
        self._sched = None
        self._last_run_at = time.time()
        self.last_report: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.last_exception: Exception | None = None
        self.skipped = 0
        self._caught_up = False  # the missed nightly run was made (``catch_up``)

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self, catch_up_delay_s: float = 60.0) -> "SleepScheduler":
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        when = parse_schedule(self.cfg.schedule)
        sched = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": self.misfire_grace_s})
        if when is not None:
            sched.add_job(self.run_now, CronTrigger(hour=when[0], minute=when[1]), id="nightly",
                          kwargs={"reason": "schedule"})
            if self._missed_nightly(when):  # checked from catch_up_delay_s on, run at the first quiet spell
                start = datetime.now().astimezone() + timedelta(seconds=catch_up_delay_s)
                sched.add_job(self.catch_up, IntervalTrigger(seconds=max(1.0, self.catch_up_quiet_s / 4),
                                                             start_date=start), id="catch-up")
        if self.cfg.idle_minutes > 0:
            every = max(5.0, min(60.0, self.cfg.idle_minutes * 60 / 4))
            sched.add_job(self.check_idle, IntervalTrigger(seconds=every), id="idle")
        sched.start()
        self._sched = sched
        self._publish("running")
        return self

    def stop(self) -> None:
        if self._sched is not None:
            self._sched.shutdown(wait=True)
            self._sched = None
        self._publish("stopped")

    def __enter__(self) -> "SleepScheduler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- triggers -----------------------------------------------------------------------------------
    def _missed_nightly(self, when: tuple[int, int]) -> bool:
        from nuonuo.consolidation import last_report

        now = datetime.now().astimezone()
        latest = now.replace(hour=when[0], minute=when[1], second=0, microsecond=0)
        if latest > now:
            latest -= timedelta(days=1)
        report = last_report(self.memory)
        if report is None:
            return bool(self.memory.records())  # never consolidated, and there is something to do
        return report.get("started", 0) < latest.timestamp()

    def catch_up(self) -> dict | None:
        """The missed nightly run, once nothing was written or recalled for ``catch_up_quiet_s``
        (a user at work is not kept waiting by it); then the check stops."""
        if self._caught_up or time.time() - self.memory.hebbian.last_activity < self.catch_up_quiet_s:
            return None
        self._caught_up = True
        if self._sched is not None and self._sched.get_job("catch-up") is not None:
            self._sched.remove_job("catch-up")
        return self.run_now(reason="catch-up")

    def check_idle(self) -> dict | None:
        """Run if nothing was written or recalled for ``idle_minutes`` and something was since
        the last run."""
        last = self.memory.hebbian.last_activity
        idle_for = time.time() - last
        if last > self._last_run_at and idle_for >= self.cfg.idle_minutes * 60:
            return self.run_now(reason="idle")
        return None

    def run_now(self, reason: str = "manual") -> dict | None:
        """Run the job unless a run is in progress (then returns None)."""
        if not self._running.acquire(blocking=False):
            self.skipped += 1
            log.info("sleep run (%s) skipped: a run is in progress", reason)
            return None
        try:
            self._last_run_at = time.time()
            self._publish("consolidating")
            report = self.job(self.memory)
            report = dict(report or {}, reason=reason)
            report.update(self.backup())
            self.last_report, self.last_error, self.last_exception = report, None, None
            log.info("sleep run (%s) done in %.1fs", reason, report.get("seconds", 0.0))
            return report
        except StoreError as exc:  # a full disk: one line, the next run tries again
            self.last_error, self.last_exception = exc.message, exc
            log.error("sleep run (%s) failed: %s", reason, exc.message)
            return None
        except Exception as exc:  # noqa: BLE001 - a failed night must not kill the daemon
            self.last_error, self.last_exception = f"{type(exc).__name__}: {exc}", exc
            log.exception("sleep run (%s) failed", reason)
            return None
        finally:
            self._running.release()
            self._publish("running" if self._sched is not None else "stopped")

    def backup(self) -> dict[str, Any]:
        """A backup of a local store, keeping the newest ``[store] backups``; {} when off."""
        keep = self.memory.config.store.backups
        if keep <= 0 or "://" in self.memory.config.store_uri:
            return {}
        from nuonuo import backup

        folder = backup.backups_dir(self.memory.config.home)
        info = backup.create(self.memory.store, folder)
        backup.prune(folder, keep)
        return {"backup": info["name"], "backup_bytes": info["bytes"], "backup_seconds": info["seconds"]}

    @property
    def busy(self) -> bool:
        return self._running.locked()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the "never two runs at once" lock for a run made outside ``run_now`` (a manual run
        with options); yields False, holding nothing, while another run is in progress."""
        if not self._running.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            self._running.release()

    def next_run(self) -> datetime | None:
        if self._sched is None:
            return None
        times = [j.next_run_time for j in self._sched.get_jobs()  # the nightly run: the others are checks
                 if j.id not in ("idle", "catch-up") and j.next_run_time]
        return min(times) if times else None

    def _publish(self, state: str) -> None:
        nxt = self.next_run()
        info = {"state": state, "next_run": nxt.isoformat() if nxt else None,
                "idle_minutes": self.cfg.idle_minutes or None}
        if self._sched is not None and self._sched.get_job("catch-up") is not None:
            info["catch_up"] = f"the missed nightly run, after {self.catch_up_quiet_s:.0f} s without writes or recalls"
        if self.last_error:
            info["last_error"] = self.last_error
        self.memory.hebbian.scheduler_info = info
