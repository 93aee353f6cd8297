"""Backup, restore and doctor's read-through at store sizes, beside a plain copy of the store folder.

    python benchmarks/backup.py --sizes 10000 100000

For each size, a fresh local store gets N memories (texts of ~100 characters, 384-dim unit vectors:
random ones, since the cost of a copy does not depend on what the vectors say, and encoding 100K
texts would take ~6 minutes on 2 cores), written in batches of 10K and compacted as the sleep job
leaves it. Then, in the same run:
- baseline: ``shutil.copytree`` of the store folder (what a careful user would do by hand);
- ``nuonuo.backup.create`` (read every table through, write a compact copy), its size;
- ``nuonuo.backup.restore`` of that backup over the store;
- ``nuonuo.doctor.check`` without the cache rebuild (the read-through of every table).
Ratio = backup time / copy time. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nuonuo import backup, doctor  # noqa: E402
from nuonuo.config import load_config  # noqa: E402
from nuonuo.records import MemoryRecord  # noqa: E402
from nuonuo.store import Store  # noqa: E402

WORDS = ("apple river morning station garden letter window painting winter harbour violin doctor market "
         "engine forest ticket mountain coffee kitchen lantern museum bridge candle pocket").split()


def fill(home: Path, n: int, dim: int = 384, batch: int = 10_000) -> Store:
    rng = np.random.default_rng(0)
    store = Store(str(home / "store"), dim)
    store.set_meta("encoder", "all-MiniLM-L6-v2")
    store.set_meta("encoder_dim", str(dim))
    now = time.time()
    for start in range(0, n, batch):
        m = min(batch, n - start)
        recs = [MemoryRecord(id=f"{start + i:032x}", namespace="default",
                             text=" ".join(rng.choice(WORDS, 16)) + f" #{start + i}", key=None, metadata={},
                             created_at=now, updated_at=now, last_access=0.0, importance=0.5, access_count=0,
                             sha256=f"{start + i:064x}") for i in range(m)]
        vecs = rng.standard_normal((m, dim)).astype(np.float32)
        store.add(recs, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    store.compact()
    return store


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(n: int, root: Path) -> dict:
    home = root / f"home-{n}"
    store = fill(home, n)
    t0 = time.perf_counter()
    shutil.copytree(home / "store", root / f"copy-{n}")
    copy_s = time.perf_counter() - t0
    info = backup.create(store, backup.backups_dir(home))
    t0 = time.perf_counter()
    backup.restore(store, info)
    restore_s = time.perf_counter() - t0
    store.compact()
    report = doctor.check(load_config(home), caches=False)
    assert report["status"] == "healthy", report["problems"]
    out = {"memories": n, "store_bytes": size_of(home / "store"), "copy_s": round(copy_s, 3),
           "backup_s": info["seconds"], "backup_bytes": info["bytes"], "restore_s": round(restore_s, 3),
           "doctor_read_s": report["seconds"], "ratio_backup_over_copy": round(info["seconds"] / copy_s, 2)}
    shutil.rmtree(home)
    shutil.rmtree(root / f"copy-{n}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="nuonuo-backup-bench-") as tmp:
        for n in args.sizes:
            rows.append(measure(n, Path(tmp)))
    print(f"{'memories':>9} {'store MB':>9} {'copy s':>7} {'backup s':>9} {'backup MB':>10} {'ratio':>6} "
          f"{'restore s':>10} {'doctor s':>9}")
    for r in rows:
        print(f"{r['memories']:>9} {r['store_bytes'] / 1e6:>9.1f} {r['copy_s']:>7.2f} {r['backup_s']:>9.2f} "
              f"{r['backup_bytes'] / 1e6:>10.1f} {r['ratio_backup_over_copy']:>6.2f} {r['restore_s']:>10.2f} "
              f"{r['doctor_read_s']:>9.2f}")
    print(json.dumps({"benchmark": "backup", "rows": rows}))


if __name__ == "__main__":
    main()
