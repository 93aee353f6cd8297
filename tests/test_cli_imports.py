"""The CLI pays only for what it uses: through a running daemon a `recall` or `remember` process
loads no model, store or HTTP library code; on its own (no daemon) it loads no torch when ONNX
Runtime serves the encoder. Checked on real processes (the modules they imported), not by timing:
speed is measured in benchmarks/cli_startup.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import daemon_support as ds

HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "lancedb", "pyarrow", "numpy",
         "httpx", "scipy", "nuonuo.memory", "lance_namespace_urllib3_client.api", "pyarrow.compute")

PROBE = """
import json, sys
from nuonuo.cli import main
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def imported_by(*commands: list[str]) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(commands)), json.dumps(HEAVY)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]), out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("served") / "home"
    ds.start(home)
    yield home
    ds.stop(home)


def test_through_a_daemon_the_cli_imports_no_model_store_or_httpx(served):
    heavy, out = imported_by(["--home", str(served), "remember", "Miso the cat sleeps on the piano"],
                             ["--home", str(served), "recall", "where does the cat sleep", "-k", "1"])
    assert "Miso the cat sleeps on the piano" in out  # the recall found what the remember stored
    assert heavy == []


def test_without_a_daemon_the_cli_runs_onnx_and_no_torch(nuonuo_home, encoder):
    heavy, out = imported_by(["remember", "My sister Lena lives in Porto"],
                             ["recall", "where does Lena live", "-k", "1"])
    assert "Porto" in out
    assert "onnxruntime" in heavy and "lancedb" in heavy  # it did open the store and encode
    assert not {"torch", "transformers", "sentence_transformers"} & set(heavy)
    assert "lance_namespace_urllib3_client.api" not in heavy  # LanceDB without the namespace REST client
    assert "scipy" not in heavy  # W (scipy.sparse) is made on first use: this store has no links


def test_a_cold_recall_reads_the_snapshot_and_imports_no_lancedb(nuonuo_home, encoder):
    """A `remember` leaves a snapshot of the store; the next process's `recall` reads it without
    LanceDB. A write that left no snapshot (the library, another tool) makes it stale, and the next
    recall reads the store itself and finds the new memory."""
    imported_by(["remember", "My sister Lena lives in Porto"])
    heavy, out = imported_by(["recall", "where does Lena live", "-k", "1"])
    assert "Porto" in out
    assert "onnxruntime" in heavy and "lancedb" not in heavy
    assert "pyarrow.compute" not in heavy  # the vectors are read without it (0.05 s)
    from nuonuo import Memory

    with Memory.open(nuonuo_home, encoder=encoder) as m:
        m.remember("The blue kayak is in the garage")
    heavy, out = imported_by(["recall", "where is the kayak", "-k", "1"])
    assert "garage" in out and "lancedb" in heavy
    heavy, out = imported_by(["recall", "where is the kayak", "-k", "1"])  # that recall left a new snapshot
    assert "garage" in out and "lancedb" not in heavy


def test_after_a_daemon_stops_a_cold_recall_reads_the_snapshot_it_left(tmp_path):
    home = tmp_path / "home"
    ds.start(home)
    try:
        imported_by(["--home", str(home), "remember", "The spare key is under the third flower pot"])
    finally:
        ds.stop(home)
    assert (home / "snapshot" / "snapshot.json").exists()
    heavy, out = imported_by(["--home", str(home), "recall", "where is the spare key", "-k", "1"])
    assert "third flower pot" in out and "lancedb" not in heavy


def test_a_store_with_links_reads_w_only_when_a_recall_follows_one(nuonuo_home, encoder):
    """W (scipy.sparse) is read on first use: a cold recall that follows no link does not pay for
    it, one that starts from a linked memory reads it and finds the memory the link leads to."""
    from nuonuo import Memory

    with Memory.open(nuonuo_home, encoder=encoder) as m:
        cue = m.remember("Lena is my sister")
        target = m.remember("Lena's husband Tomasz works at Brightwell Logistics")
        m.remember("The blue kayak is in the garage")
        m.associate(cue.id, target.id)
        m.consolidate(seed=0)  # leaves a W snapshot
    heavy, out = imported_by(["recall", "where is the kayak", "-k", "1"])
    assert "garage" in out and "scipy" not in heavy
    heavy, out = imported_by(["recall", "Lena is my sister", "-k", "2", "--explain"])
    assert "scipy" in heavy and "Tomasz" in out
