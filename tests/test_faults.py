"""Fault injection on the real store: crashes (kill -9 at a chosen write) and I/O errors
(``RLIMIT_FSIZE``: writes past a size fail with EFBIG, as on a full disk; no root needed), on every
write path, then: the store opens, ``nuonuo doctor`` says healthy (or repairs it), no acknowledged
memory is missing, no orphaned file is left. Plus the user-facing faults end to end: the real CLI on
a full disk and on a damaged file, and the real daemon answering 507 and writing again once space
is back. The table of outcomes is in docs/reliability.md (``pytest -s`` prints it)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nuonuo import backup, doctor, store_files
from nuonuo.config import load_config
from nuonuo.errors import StoreDamaged
from nuonuo.memory import Memory

from daemon_support import run_cli  # noqa: E402  (tests/ is on sys.path under pytest)

CHILD = Path(__file__).with_name("fault_child.py")
TABLES = ("memories", "associations", "hebbian_w", "meta")
ROWS: list[dict] = []

PLAIN = ["my sister Lena lives in Porto", "I parked the car on level 3", "the dentist is on Tuesday at 4pm",
         "our wifi is called blue-heron", "Marco plays the cello", "the cellist Marco teaches on Fridays",
         "the boiler was serviced in March", "Grandma's recipe uses cardamom", "the bike lock code is 4471",
         "Q937 is the project code for the bridge", "the train to Lyon leaves at 7:12", "Ana likes green tea"]


def _texts_for_children() -> list[str]:
    bulk = [f"bulk note {i}: the shipment {i} left the depot at dawn" for i in range(300)]
    return ["the api port is now 9090", "my sister Lena moved to Lisbon", "a note written just before the fault", *bulk]


@pytest.fixture(scope="module")
def base(tmp_path_factory, encoder):
    """A store with memories, a keyed value, links, a W snapshot and links after it; and the real
    encoder's vectors for what the children will write."""
    home = tmp_path_factory.mktemp("faults") / "base"
    with Memory(load_config(home), encoder) as mem:
        plain = mem.remember_many(PLAIN)
        mem.remember("the api port is 8080", key="api port")
        mem.associate(plain[3], plain[4])
        mem.associate(plain[5], plain[6])
        mem.consolidate(paraphrase="off")  # a W snapshot and a watermark
        mem.associate(plain[7], plain[8])  # a link after the snapshot
        every = {r.id: r.text for r in mem.records()}
    (home / "base.json").write_text(json.dumps({"plain": plain, "linked": [plain[3]], "all": every}))
    texts = _texts_for_children()
    vectors = home.parent / "vectors.npz"
    np.savez(vectors, name=encoder.name, dim=encoder.dim, texts=np.array(texts),
             vectors=encoder.embed_many(texts))
    return home, vectors


@pytest.fixture(scope="module")
def forks():
    """The fork server of tests/fault_child.py (one interpreter start for every case)."""
    proc = subprocess.Popen([sys.executable, str(CHILD), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=CHILD.parent.parent)
    assert proc.stdout.readline().strip() == "ready"

    def run(home: Path, vectors: Path, op: str, fault: str) -> tuple[int, str]:
        out = home.parent / "child.out"
        proc.stdin.write(f"{home} {vectors} {op} {fault} {out}\n")
        proc.stdin.flush()
        code = int(proc.stdout.readline())
        return code, out.read_text()

    yield run
    proc.stdin.close()
    proc.wait(timeout=30)


def _orphans(home: Path) -> list[Path]:
    uri = str(home / "store")
    return [p for t in TABLES for p in store_files.orphans(uri, t)]


def _verify(home: Path, encoder, acks: list[dict], op: str) -> None:
    info = json.loads((home / "base.json").read_text())
    with Memory(load_config(home), encoder) as mem:
        records = {r.id: r for r in mem.records()}
        forgotten = {a["forgot"] for a in acks if "forgot" in a}
        target = info["linked"][0] if op == "forget" else None
        for mid in info["all"]:  # every memory acknowledged before the fault
            if mid not in forgotten and mid != target:
                assert mid in records, f"acknowledged memory {mid} is missing"
        for a in acks:
            if "id" in a:
                assert records[a["id"]].text == a["text"]
            if "forgot" in a:
                assert a["forgot"] not in records
            if "link" in a:
                assert any(r["other"] == a["link"][1] for r in mem.associations(a["link"][0]))
        assert mem.recall("where does my sister live?", k=3)


CASES = [
    ("remember", "crash-before:1"), ("remember", "crash-after:1"), ("remember", "efbig:512"),
    ("remember_many", "crash-after:2"), ("remember_many", "efbig:65536"),
    ("forget", "crash-after:1"), ("forget", "efbig:512"),
    ("update", "crash-before:1"), ("update", "efbig:512"),
    ("associate", "crash-before:1"), ("associate", "efbig:512"),
    ("consolidate", "crash-after:1"), ("consolidate", "crash-after:3"), ("consolidate", "crash-after:4"),
    ("consolidate", "crash-before:7"), ("consolidate", "efbig:512"),
    ("migrate", "crash-after:1"), ("migrate", "efbig:512"),
]


def _make_old_schema(home: Path) -> None:
    """Take the copy back to schema 4 (before the W snapshot table), as an older nuonuo left it."""
    from nuonuo.store import Store

    store = Store(str(home / "store"), 0, migrate=False)
    store.db.drop_table("hebbian_w")
    store.set_meta("schema_version", "4")
    store.set_meta("hebbian_w_watermark", "")


@pytest.mark.parametrize("op,fault", CASES)
def test_fault_on_write_path(base, encoder, forks, tmp_path, op, fault):
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    if op == "migrate":
        _make_old_schema(home)
    code, output = forks(home, base[1], op, fault)
    assert "Traceback" not in output, output
    acks = [json.loads(line[4:]) for line in output.splitlines() if line.startswith("ACK ")]
    errs = [line for line in output.splitlines() if line.startswith("ERR ")]
    assert op == "migrate" or (acks and acks[0]["text"] == "a note written just before the fault")
    if fault.startswith("crash"):
        assert code == -9, output
    else:
        assert code == 7 and errs and errs[0].startswith("ERR store_full disk full:"), output
    left = _orphans(home)
    report = doctor.check(load_config(home), encoder)
    if report["status"] != "healthy":
        report = doctor.repair(load_config(home), encoder)
    assert report["status"] in ("healthy", "repaired"), report
    assert _orphans(home) == []
    _verify(home, encoder, acks, op)
    if op == "migrate":
        from nuonuo.migrations import LATEST
        from nuonuo.store import Store

        assert Store(str(home / "store"), 0, migrate=False).get_meta("schema_version") == str(LATEST)
    ROWS.append({"op": op, "fault": fault, "exit": code, "acked": len(acks),
                 "orphans_left": len(left), "doctor": report["status"], "error": errs[0][:90] if errs else ""})


def test_outcome_table():
    """Prints the injection point × fault → outcome table (docs/reliability.md) after the cases ran."""
    assert len(ROWS) == len(CASES)
    print("\n| write path | fault | exit | acknowledged | orphans after fault | doctor after reopen |")
    for r in ROWS:
        print(f"| {r['op']} | {r['fault']} | {r['exit']} | {r['acked']} | {r['orphans_left']} | {r['doctor']} |")


# --- user-facing faults, end to end -------------------------------------------------------------------
def _fsize_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_cli_disk_full_one_line_and_nothing_lost(base, encoder, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"text": f"line {i} of a long import about rivers"}) + "\n"
                             for i in range(300)))
    env = {**os.environ, "NUONUO_HOME": str(home)}
    proc = subprocess.run([str(Path(sys.executable).parent / "nuonuo"), "remember", "--file", str(items)],
                          capture_output=True, text=True, env=env, timeout=300, preexec_fn=_fsize_limit(65536))
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    print("\n" + lines[0] if lines else proc.stderr)
    assert proc.returncode == 7, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1
    assert lines[0].startswith("error: disk full:") and "nothing acknowledged was lost" in lines[0]
    before = len(json.loads((home / "base.json").read_text())["all"])
    with Memory(load_config(home), encoder) as mem:  # the next open: no orphans, nothing lost
        assert len(mem.records()) == before
        assert _orphans(home) == []
        assert len(set(mem.remember_many([f"line {i} after freeing space" for i in range(20)]))) == 20


def _truncate_newest_data_file(home: Path) -> str:
    files = sorted((home / "store" / "memories.lance" / "data").glob("*.lance"), key=lambda p: p.stat().st_mtime)
    os.truncate(files[-1], files[-1].stat().st_size // 2)
    return files[-1].name


def test_damaged_file_cli_names_doctor_and_repair_recovers(base, encoder, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    with Memory(load_config(home), encoder) as mem:
        backed = backup.create(mem.store, backup.backups_dir(home))
        before_backup = {r.id: r.text for r in mem.records()}
        later = mem.remember("the spare key is under the blue pot").id
    name = _truncate_newest_data_file(home)
    proc = run_cli(home, "stats")
    assert proc.returncode == 7 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "damaged" in proc.stderr and "nuonuo doctor" in proc.stderr
    assert name in proc.stderr
    with pytest.raises(StoreDamaged, match="nuonuo doctor --repair"):
        Memory(load_config(home), encoder)  # recall opens the store the same way
    report = doctor.repair(load_config(home), encoder)  # the CLI's `doctor --repair` (its exit codes: below)
    assert report["status"] in ("repaired", "repaired_with_loss") and report["repairs"][0]["table"] == "memories"
    with Memory(load_config(home), encoder) as mem:
        for mid, text in before_backup.items():  # everything remembered before the last backup
            assert mem.get(mid).text == text
        hits = mem.recall("where is the spare key?", k=3)
        assert later not in {r.id for r in mem.records()} or hits[0].id == later
    assert backed["memories"] == len([r for r in before_backup])


def test_repair_from_backup_when_no_version_reads(base, encoder, tmp_path):
    """A damaged file that every version uses (after compaction): only the backup can bring it back."""
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    with Memory(load_config(home), encoder) as mem:
        mem.store.compact()
        info = backup.create(mem.store, backup.backups_dir(home))
        every = {r.id: r.text for r in mem.records()}
    _truncate_newest_data_file(home)
    report = doctor.check(load_config(home), encoder)
    assert report["status"] == "damaged" and not report["tables"]["memories"]["readable"]
    report = doctor.repair(load_config(home), encoder)
    assert report["status"] == "repaired", report
    assert report["repairs"][0]["method"] == f"backup {info['name']}"
    with Memory(load_config(home), encoder) as mem:
        assert {r.id: r.text for r in mem.records()} == every


def test_unrepairable_without_version_or_backup(base, encoder, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    with Memory(load_config(home), encoder) as mem:
        mem.store.compact()
    _truncate_newest_data_file(home)
    proc = run_cli(home, "doctor")  # the check stops before the caches: no model is loaded
    assert proc.returncode == 10 and "damaged" in proc.stdout and "nuonuo doctor --repair" in proc.stdout
    proc = run_cli(home, "doctor", "--repair", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 13 and report["status"] == "unrepairable"
    assert "no readable earlier version and no backup" in report["repairs"][0]["error"]


def test_backup_restore_roundtrip(base, encoder, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    folder = backup.backups_dir(home)
    with Memory(load_config(home), encoder) as mem:
        every = {r.id: r.text for r in mem.records()}
        first = backup.create(mem.store, folder)
        gone = next(iter(every))
        mem.forget(gone)
    assert first["memories"] == len(every) and first["bytes"] > 0
    proc = run_cli(home, "restore", first["name"])
    assert proc.returncode == 0, proc.stderr
    with Memory(load_config(home), encoder) as mem:
        assert {r.id: r.text for r in mem.records()} == every
        second = backup.create(mem.store, folder)
        third = backup.create(mem.store, folder)
    assert backup.prune(folder, 2) == [first["name"]]
    assert [b["name"] for b in backup.list_backups(folder)] == [third["name"], second["name"]]


def test_daemon_full_disk_507_reads_go_on_writes_resume(base, encoder, tmp_path):
    """A running daemon on a full disk: writes answer 507 with the JSON error, reads keep working,
    and once space is back (the limit lifted from outside) writes work again, same process."""
    import httpx

    import daemon_support as ds
    from nuonuo.daemon.paths import DaemonPaths

    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    ds.write_config(home, """
        [daemon]
        tcp_port = 0
        [sleep]
        schedule = ""
        idle_minutes = 0
    """)
    proc = run_cli(home, "daemon", "start", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    paths = DaemonPaths.of(load_config(home))
    pid = paths.state()["pid"]
    try:
        http = httpx.Client(transport=httpx.HTTPTransport(uds=str(paths.socket)), base_url="http://nuonuo", timeout=60)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY))  # the disk fills up
        r = http.post("/v1/memories", json={"text": "a memory written on a full disk"})
        assert r.status_code == 507 and r.json()["error"] == "store_full", r.text
        assert r.json()["detail"].startswith("disk full:")
        r = http.post("/v1/memories/batch", json={"items": ["one on a full disk", "two on a full disk"]})
        assert r.status_code == 507, r.text
        r = http.post("/v1/consolidate", json={})
        assert r.status_code == 507 and r.json()["error"] == "store_full", r.text
        r = http.post("/v1/recall", json={"query": "where does my sister live?", "k": 3})
        assert r.status_code == 200 and r.json()["hits"], r.text
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space freed
        r = http.post("/v1/memories", json={"text": "a memory written after freeing space"})
        assert r.status_code == 200, r.text
        assert paths.state()["pid"] == pid
        http.close()
    finally:
        ds.stop(home)
    log = paths.log.read_text()
    assert "Traceback" not in log and "disk full" in log
    with Memory(load_config(home), encoder) as mem:
        texts = {r.text for r in mem.records()}
    assert "a memory written after freeing space" in texts and "a memory written on a full disk" not in texts
    assert _orphans(home) == []


def test_sleep_job_keeps_the_last_backups(base, encoder, tmp_path):
    from nuonuo.scheduler import SleepScheduler

    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    with Memory(load_config(home, overrides={"store": {"backups": 2}, "sleep": {"paraphrase": "off"}}), encoder) as mem:
        sched = SleepScheduler(mem)
        reports = [sched.run_now() for _ in range(3)]
        assert all(r and r["backup"] and r["backup_bytes"] > 0 for r in reports), sched.last_error
        kept = backup.list_backups(backup.backups_dir(home))
        assert [b["name"] for b in kept] == [reports[2]["backup"], reports[1]["backup"]]
        assert kept[0]["memories"] == len(mem.records())


def test_every_storage_fault_is_one_sentence_with_what_to_do():
    """The classifier on the OS's and LanceDB's own errors (permission and read-only faults cannot
    be made for real without root or a mount; the full disk and damage are made for real above)."""
    from nuonuo.errors import StoreError, StoreFull
    from nuonuo.store import storage_error

    uri = "/data/nuonuo/store"
    cases = [
        (OSError(28, "No space left on device"), "write", StoreFull, "disk full:", "free space"),
        (RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), /x.rs:1:2"), "write",
         StoreFull, "disk full:", "nothing acknowledged was lost"),
        (PermissionError(13, "Permission denied"), "write", StoreError, "permission denied:", "access"),
        (OSError(30, "Read-only file system"), "write", StoreError, "read-only file system:", "remount"),
        (RuntimeError("lance error: LanceError(IO): Generic LocalFileSystem error: failed to fill whole buffer, "
                      "/rustc/x/function.rs:250:5"), "read", StoreDamaged, "the store is damaged:",
         "nuonuo doctor --repair"),
        (RuntimeError("lance error: LanceError(IO): Not found: data/nuonuo/store/memories.lance/_deletions/2-5-1.arrow"),
         "read", StoreDamaged, "the store is damaged:", "nuonuo doctor"),
    ]
    for exc, action, cls, start, advice in cases:
        err = storage_error(exc, uri, "memories", action)
        assert type(err) is cls and err.message.startswith(start) and advice in err.message, err
        assert "the memories table" in err.message and "\n" not in err.message and ".rs:" not in err.message
        assert err.exit_code == 7
    assert StoreFull.http_status == 507 and StoreDamaged.http_status == 500
    assert storage_error(ValueError("k must be positive"), uri, "memories") is None  # a bug stays a bug


def test_full_disk_midway_through_an_import_says_what_was_stored(base, encoder, tmp_path):
    """Batch 1 fits under the limit, batch 2 (longer texts) does not: the error says how many were
    stored, those are there, and importing again stores only the rest."""
    from nuonuo.errors import StoreFull

    home = tmp_path / "home"
    shutil.copytree(base[0], home)
    short = [f"short note {i}" for i in range(40)]
    rng = np.random.default_rng(7)  # text that does not compress: the limit must bite on batch 2
    long = [f"long note {i}: " + " ".join(f"w{x}" for x in rng.integers(0, 10**6, 100)) for i in range(40)]
    with Memory(load_config(home), encoder) as mem:
        before = len(mem.records())
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (80_000, hard))
        try:
            with pytest.raises(StoreFull, match=r"disk full: .*\(40 of 80 new memories were stored before it"):
                mem.remember_many(short + long, batch_size=40)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert len(mem.records()) == before + 40
        ids = mem.remember_many(short + long, batch_size=40)
        assert len(set(ids)) == 80 and len(mem.records()) == before + 80
