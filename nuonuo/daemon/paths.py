"""Where a daemon's files live, and how a process tells whether one is running.

Everything is in the data folder (``NUONUO_HOME``):

- ``nuonuo.sock``   the Unix socket (mode 0600), unless ``[daemon] socket`` names another path;
- ``daemon.lock``   held (``flock``) by the running daemon for its whole life: the one reliable
                    liveness test (the kernel drops it when the process dies, so a ``kill -9``
                    never leaves a daemon that looks alive, and a reused pid never looks like one);
- ``daemon.json``   the pidfile: pid, socket, TCP address, start time;
- ``daemon.log``    the log of a background daemon;
- ``daemon.token``  the bearer token TCP clients must send (mode 0600).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nuonuo.config import Config


@dataclass(frozen=True)
class DaemonPaths:
    home: Path
    socket: Path
    lock: Path
    pidfile: Path
    log: Path
    token: Path

    @classmethod
    def of(cls, cfg: Config) -> "DaemonPaths":
        home = cfg.home
        d = cfg.daemon
        return cls(
            home=home,
            socket=Path(d.socket).expanduser() if d.socket else home / "nuonuo.sock",
            lock=home / "daemon.lock",
            pidfile=home / "daemon.json",
            log=home / "daemon.log",
            token=Path(d.token_file).expanduser() if d.token_file else home / "daemon.token",
        )

    def running(self) -> bool:
        """True while some process holds ``daemon.lock`` (a live daemon, starting or serving)."""
        try:
            fd = os.open(self.lock, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our probe lock, if we got it
        return False

    def state(self) -> dict[str, Any] | None:
        """The pidfile's contents, or None if there is none (or it is unreadable)."""
        try:
            return json.loads(self.pidfile.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def read_token(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None
