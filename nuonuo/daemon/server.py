"""Start, stop and inspect the daemon.

``serve`` runs it in the foreground (what ``nuonuo daemon start --foreground`` and systemd/launchd
use); ``start`` launches ``python -m nuonuo.daemon.server`` in its own session with its output in
``<home>/daemon.log`` and returns once it answers on its socket; ``stop`` sends SIGTERM and waits.

Startup order matters for "one owner": take ``daemon.lock`` (a second daemon on the same home stops
here), open the ``Memory`` (which takes the store's flock: an embedded writer elsewhere makes us wait
``lock_timeout_s`` then fail), bind the sockets, write the pidfile, serve. On SIGTERM uvicorn stops
accepting, lets in-flight requests finish (an acknowledged write is committed before its answer is
sent), then the sleep scheduler is shut down (waiting for a running job) and the memory is flushed
and closed.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nuonuo.config import Config, load_config
from nuonuo.daemon.paths import DaemonPaths, read_token
from nuonuo.errors import ConfigError, DaemonError

log = logging.getLogger("nuonuo.daemon")


# --- listeners ------------------------------------------------------------------------------------------
def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` with mode 0600 from birth (umask, then chmod to be sure)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()  # stale: we hold daemon.lock, so no live daemon owns it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_tcp(cfg: Config, paths: DaemonPaths) -> str | None:
    """Validate the TCP settings; returns the token TCP clients must send (None: no TCP).

    Loopback: a token is created in ``token_file`` (0600) if there is none. Any other address needs
    ``allow_public = true`` *and* a token the user put there: nuonuo never opens its memory to the
    network by default or by accident."""
    host = cfg.daemon.tcp_host
    if not host:
        return None
    if not is_loopback(host):
        if not cfg.daemon.allow_public:
            raise ConfigError(
                f"refusing to listen on {host}, which is not a loopback address: anyone who can reach "
                "it could read your memories. Use 127.0.0.1, or set [daemon] allow_public = true and "
                f"put a long random token in {paths.token} (mode 0600)")
        if read_token(paths.token) is None:
            raise ConfigError(f"listening on the public address {host} needs a token in {paths.token}")
    token = read_token(paths.token)
    if token is None:
        token = secrets.token_urlsafe(32)
        paths.token.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(paths.token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    mode = stat.S_IMODE(paths.token.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"the token file {paths.token} is readable by others (mode {mode:o}); "
                          f"run `chmod 600 {paths.token}`")
    return token


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


# --- the daemon lock --------------------------------------------------------------------------------
def take_daemon_lock(paths: DaemonPaths) -> int:
    paths.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        state = paths.state() or {}
        raise DaemonError(f"a nuonuo daemon is already running for {paths.home} "
                          f"(pid {state.get('pid', '?')}, socket {state.get('socket', paths.socket)})") from None
    return fd


# --- foreground -----------------------------------------------------------------------------------------
def serve(home: str | Path | None = None, config: Config | None = None) -> None:
    """Run the daemon in this process until SIGTERM/SIGINT."""
    import uvicorn

    from nuonuo.daemon.app import create_app
    from nuonuo.daemon.service import Service
    from nuonuo.memory import Memory

    cfg = config or load_config(home)
    paths = DaemonPaths.of(cfg)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock_fd = take_daemon_lock(paths)
    # SIGTERM → SystemExit, so the cleanup below always runs: uvicorn catches the signal while
    # serving (graceful stop), then re-raises it through this handler once the requests are done
    signal.signal(signal.SIGTERM, _exit_on_term)
    sockets: list[socket.socket] = []
    service = None
    try:
        token = check_tcp(cfg, paths)
        log.info("opening the store %s", cfg.store_uri)
        memory = Memory(cfg)
        for index in memory.pattern_indexes().values():  # the first recall then answers as the others do
            index.prepare()
        service = Service(memory, cfg)
        service.sleep = start_sleep(service)
        sockets.append(bind_unix(paths.socket))
        tcp = None
        if token is not None:
            tsock = bind_tcp(cfg.daemon.tcp_host, cfg.daemon.tcp_port)
            sockets.append(tsock)
            host, port = tsock.getsockname()[:2]
            tcp = f"{host}:{port}"
        state = {"pid": os.getpid(), "socket": str(paths.socket), "tcp": tcp, "store": cfg.store_uri,
                 "started": time.time(), "log": str(paths.log)}
        fd = os.open(paths.pidfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(state))
        app = create_app(service, cfg, token)
        server = uvicorn.Server(uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=int(cfg.daemon.request_timeout_s) or None, timeout_keep_alive=30))
        log.info("serving on %s%s (pid %d)", paths.socket, f" and http://{tcp}" if tcp else "", os.getpid())
        server.run(sockets=sockets)
        log.info("stopping: in-flight requests are done")
    finally:
        if service is not None:
            if service.sleep is not None:
                service.sleep.shutdown()
            service.close()
        for sock in sockets:
            sock.close()
        owned = [paths.pidfile] + ([paths.socket] if any(s.family == socket.AF_UNIX for s in sockets) else [])
        for path in owned:  # never remove a socket this process did not create
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        os.close(lock_fd)
        log.info("stopped")


def _exit_on_term(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def start_sleep(service: Any) -> Any:
    """Start the sleep scheduler (``nuonuo.sleep_job``), or None if consolidation is not installed."""
    try:
        from nuonuo.daemon.sleep import SleepJob
    except ImportError:
        return None
    job = SleepJob.create(service)
    if job is not None:
        job.start()
    return job


# --- background -----------------------------------------------------------------------------------------
def start(home: str | Path | None = None, wait_s: float = 180.0) -> dict[str, Any]:
    """Launch the daemon in the background; returns its state once it answers on its socket."""
    cfg = load_config(home)
    paths = DaemonPaths.of(cfg)
    if paths.running():
        running = paths.state() or {}
        raise DaemonError(f"a nuonuo daemon is already running for {paths.home} (pid {running.get('pid', '?')})")
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(os.open(paths.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log_fh:
        proc = subprocess.Popen([sys.executable, "-m", "nuonuo.daemon.server", "--home", str(cfg.home)],
                                stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(cfg.home))
    deadline = time.monotonic() + wait_s
    from nuonuo.daemon.client import Client

    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise DaemonError(f"the daemon exited during startup (code {code}):\n{log_tail(paths)}")
        state = paths.state()
        if state and state.get("pid") == proc.pid and paths.socket.exists():
            try:
                with Client(socket_path=paths.socket, timeout=5) as client:
                    client.health()
                return state
            except DaemonError:
                pass
        time.sleep(0.1)
    raise DaemonError(f"the daemon (pid {proc.pid}) did not answer within {wait_s:g} s; see {paths.log}")


def log_tail(paths: DaemonPaths, lines: int = 15) -> str:
    try:
        return "\n".join(paths.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(home: str | Path | None = None, wait_s: float = 180.0) -> int | None:
    """SIGTERM the daemon and wait until it is gone; returns its pid, or None if none was running."""
    paths = DaemonPaths.of(load_config(home))
    if not paths.running():
        return None
    pid = int((paths.state() or {}).get("pid") or 0)
    if pid <= 0:
        raise DaemonError(f"a daemon holds {paths.lock} but its pidfile {paths.pidfile} is missing "
                          "(it may still be starting); try again in a moment")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while paths.running():
        if time.monotonic() > deadline:
            raise DaemonError(f"the daemon (pid {pid}) did not stop within {wait_s:g} s")
        time.sleep(0.05)
    return pid


def status(home: str | Path | None = None) -> dict[str, Any] | None:
    """The running daemon's status (pid, uptime, counts, sleep job), or None if none runs."""
    from nuonuo.daemon.client import connect

    client = connect(home)
    if client is None:
        return None
    with client:
        data = client.status()
    state = DaemonPaths.of(load_config(home)).state() or {}
    data["socket"] = state.get("socket")
    data["tcp"] = state.get("tcp")
    data["log"] = state.get("log")
    return data


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nuonuo.daemon.server")
    parser.add_argument("--home", default=None)
    args = parser.parse_args(argv)
    try:
        serve(args.home)
    except Exception as exc:  # noqa: BLE001 - the log is the only place a background daemon can say why
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(getattr(exc, "exit_code", 1))


if __name__ == "__main__":
    main()
