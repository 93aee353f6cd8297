"""A child process for tests/test_faults.py: opens a real store, injects one fault, runs one write.

    python tests/fault_child.py HOME VECTORS.npz OP FAULT
    python tests/fault_child.py --serve      # a fork server: one line "HOME VECTORS OP FAULT OUT" per case


OP: remember | remember_many | forget | update | associate | consolidate (see ``OPS``) | migrate
(the fault is injected before the store opens, so it meets the migration to the latest schema).
FAULT:
- ``crash-before:N`` / ``crash-after:N``: kill -9 of this process just before / just after the
  N-th store write (a LanceDB add, delete, merge-insert, overwrite, restore or optimize);
- ``efbig:BYTES``: ``RLIMIT_FSIZE`` = BYTES once the store is open, so that every write past that
  size fails with EFBIG, as on a full disk (no root, no mount needed);
- ``none``.

Before the fault, one memory is written and acknowledged (``WARM_UP``). Each completed
(acknowledged) write prints ``ACK <json>``; a store fault prints ``ERR <kind> <message>``
and exits 7. The vectors are the real encoder's, computed by the parent test for exactly the texts
written here (``ReplayEncoder``), so this process does not load torch (~10 s a process on 2 cores):
the faults under test are the store's, not the encoder's. The fork server imports nuonuo and
LanceDB once and forks a child per case (it never opens a store itself, so the child starts clean):
~0.5 s a case instead of ~4 s for a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nuonuo.config import load_config  # noqa: E402
from nuonuo.encoder import Encoder  # noqa: E402
from nuonuo.errors import StoreError  # noqa: E402
from nuonuo import store as store_mod  # noqa: E402


class ReplayEncoder(Encoder):
    """The real encoder's vectors for known texts, looked up (never computed here)."""

    def __init__(self, path: str):
        data = np.load(path, allow_pickle=False)
        self.name, self.dim = str(data["name"]), int(data["dim"])
        self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))

    def embed_batch(self, texts):
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def install_crash(mode: str, n: int) -> None:
    """kill -9 at the n-th store write, before or after it runs."""
    count = [0]
    original = store_mod.GuardedTable.__getattr__

    def getattr_(self, name):
        attr = original(self, name)
        if not callable(attr) or name not in store_mod.WRITES:
            return attr

        def call(*args, **kwargs):
            count[0] += 1
            if count[0] == n and mode == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            out = attr(*args, **kwargs)
            if count[0] == n and mode == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        return call

    store_mod.GuardedTable.__getattr__ = getattr_


WARM_UP = "a note written just before the fault"


def ack(**fields) -> None:
    print("ACK " + json.dumps(fields), flush=True)


def op_remember(mem, base):
    rec = mem.remember("the api port is now 9090", key="api port")
    ack(id=rec.id, text=rec.text)


def op_remember_many(mem, base):
    items = [f"bulk note {i}: the shipment {i} left the depot at dawn" for i in range(300)]
    ids = mem.remember_many(items, batch_size=100)
    for i, t in zip(ids, items):
        ack(id=i, text=t)


def op_forget(mem, base):
    mem.forget(base["linked"][0])
    ack(forgot=base["linked"][0])


def op_update(mem, base):
    rec = mem.update(base["plain"][0], text="my sister Lena moved to Lisbon")
    ack(id=rec.id, text=rec.text)


def op_associate(mem, base):
    mem.associate(base["plain"][1], base["plain"][2])
    ack(link=[base["plain"][1], base["plain"][2]])


def op_consolidate(mem, base):
    mem.consolidate(paraphrase="off")
    ack(consolidated=True)


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main(home: str, vectors: str, op: str, fault: str) -> int:
    from nuonuo.memory import Memory

    base = json.loads((Path(home) / "base.json").read_text())
    kind, _, arg = fault.partition(":")

    def inject() -> None:
        if kind in ("crash-before", "crash-after"):
            install_crash(kind.split("-")[1], int(arg))
        elif kind == "efbig":
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(arg), resource.RLIM_INFINITY))

    try:
        if op == "migrate":  # the fault meets the schema migration that runs while the store opens
            inject()
            mem = Memory(load_config(home), ReplayEncoder(vectors))
            ack(id=mem.remember(WARM_UP).id, text=WARM_UP)
        else:
            mem = Memory(load_config(home), ReplayEncoder(vectors))
            ack(id=mem.remember(WARM_UP).id, text=WARM_UP)
            inject()
            OPS[op](mem, base)
        mem.close()
    except StoreError as exc:
        print(f"ERR {exc.kind} {exc.message}", flush=True)
        return 7
    return 0


def serve() -> None:
    """Fork a child per line of stdin; its stdout goes to OUT; answer the child's exit code."""
    import warnings

    warnings.filterwarnings("ignore", message=".*fork.*")
    import lancedb  # noqa: F401  (imported once, here)
    import nuonuo.consolidation  # noqa: F401
    import nuonuo.memory  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        home, vectors, op, fault, out = line.split()
        pid = os.fork()
        if pid == 0:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 1
            try:
                code = main(home, vectors, op, fault)
            finally:
                sys.stdout.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main(*sys.argv[1:]))
