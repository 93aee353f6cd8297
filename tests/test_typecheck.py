"""The type checker, as part of ``make test``: mypy over what ``[tool.mypy]`` in pyproject.toml names
(the library, the TUI and the LangChain plugin; among them ``nuonuo/_conformance.py``, which
checks that ``Memory``, the daemon client and ``SharedMemory`` are each a ``MemoryAPI``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mypy(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "tui"), str(ROOT / "plugins" / "langchain-nuonuo"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=900)


def test_mypy_passes():
    r = mypy()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout


def test_mypy_catches_an_implementation_that_drifts_from_the_protocol(tmp_path):
    """The conformance check can fail: a memory whose ``recall`` returns something else is refused."""
    bad = tmp_path / "drift.py"
    bad.write_text(
        "from nuonuo.api import MemoryAPI\n"
        "from nuonuo.shared_memory import SharedMemory\n\n\n"
        "class Drifted(SharedMemory):\n"
        "    def recall(self, query: str | None = None, k: int | None = None, namespace: str = 'default',\n"
        "               at: object = None, key: str | None = None) -> list[str]:\n"
        "        return []\n\n\n"
        "def check(m: Drifted) -> MemoryAPI:\n"
        "    return m\n", encoding="utf-8")
    r = mypy(str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "recall" in r.stdout and "MemoryAPI" in r.stdout, r.stdout
