"""Helpers for the daemon tests: real daemon processes on real sockets, with the real encoder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from nuonuo.config import load_config
from nuonuo.daemon import server
from nuonuo.daemon.client import Client, connect
from nuonuo.daemon.paths import DaemonPaths, read_token

PY = sys.executable


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(textwrap.dedent(text), encoding="utf-8")


def start(home: Path) -> dict:
    """Start a background daemon for ``home`` (as `nuonuo daemon start` does) and wait for it."""
    return server.start(home, wait_s=240)


def client(home: Path) -> Client:
    c = connect(home)
    assert c is not None, f"no daemon answers for {home}"
    return c


def tcp_client(home: Path, token: str | None = "from-file") -> Client:
    paths = DaemonPaths.of(load_config(home))
    state = paths.state()
    if token == "from-file":
        token = read_token(paths.token)
    return Client(url=f"http://{state['tcp']}", token=token, timeout=60)


def kill9(home: Path) -> int:
    pid = DaemonPaths.of(load_config(home)).state()["pid"]
    os.kill(pid, signal.SIGKILL)
    paths = DaemonPaths.of(load_config(home))
    deadline = time.monotonic() + 30
    while paths.running():
        assert time.monotonic() < deadline, "a killed daemon still holds its lock"
        time.sleep(0.02)
    return pid


def stop(home: Path) -> None:
    try:
        server.stop(home, wait_s=120)
    except Exception:  # noqa: BLE001 - teardown: make sure nothing is left behind
        state = DaemonPaths.of(load_config(home)).state()
        if state:
            try:
                os.kill(state["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise


def run_cli(home: Path, *args: str, input: str | None = None, timeout: float = 120,
            env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), "NUONUO_HOME": str(home)}
    env.pop("NUONUO_CONFIG", None)
    return subprocess.run([str(Path(PY).parent / "nuonuo"), *args], capture_output=True, text=True, env=env,
                          input=input, timeout=timeout)
