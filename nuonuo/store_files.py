"""File-level checks of a local LanceDB store: damaged data files and orphaned files.

A LanceDB table is a folder ``<name>.lance`` with ``data/*.lance`` (data files), ``_deletions/``
(deletion vectors), ``_versions/*.manifest`` (one manifest per version, naming the files it uses)
and ``_transactions/``. Two facts make cheap checks possible without a full read:

- a Lance data file ends with the 4-byte magic ``LANC`` (after its footer): a file cut short (a
  bad sector, a half-synced copy, a disk full during a write) lacks it;
- a manifest is a protobuf that holds the name of every data file it references as plain bytes,
  so a data file named by no manifest belongs to no version: it is left over from a write that
  failed before its commit (an orphan) and can be deleted. (Deletion files are named by numbers
  inside the manifest, not by their file names, so they are never treated as orphans here; they
  are small, and compaction removes the unused ones.)

Object storage (``s3://…``) is not checked here (no local files); these functions return nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MAGIC = b"LANC"


def table_dir(uri: str, table: str) -> Path | None:
    if "://" in uri:
        return None
    path = Path(uri) / f"{table}.lance"
    return path if path.is_dir() else None


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []


def damaged_files(uri: str, table: str) -> list[str]:
    """Data files of ``table`` that are cut short (no trailing magic), as paths relative to the table."""
    folder = table_dir(uri, table)
    if folder is None:
        return []
    files = sorted(p for p in _files(folder / "data") if p.suffix == ".lance")
    orphaned = _unnamed(folder, [p.name for p in files])  # left by failed writes: not damage
    bad = []
    for path in files:
        if path.name in orphaned:
            continue
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - 4))
                tail = fh.read(4)
        except OSError:
            bad.append(f"data/{path.name}")
            continue
        if tail != MAGIC:
            bad.append(f"data/{path.name}")
    return bad


def _version_of(path: Path) -> int:
    """A manifest's version: ``N.manifest``, or u64::MAX - N in LanceDB's newer naming."""
    try:
        n = int(path.stem)
    except ValueError:
        return -1
    return (2**64 - 1 - n) if n >= 2**63 else n


def _manifests(folder: Path) -> list[Path]:
    """Manifest files, newest version first."""
    found = [p for p in _files(folder / "_versions") if p.suffix == ".manifest"]
    return sorted(found, key=_version_of, reverse=True)


def _unnamed(folder: Path, names: list[str]) -> set[str]:
    """Of ``names``, those no manifest names. Newest manifests first, stopping once every name is
    found: the latest names nearly every file, so an open reads one or two manifests, not all."""
    left = set(names)
    for path in _manifests(folder):
        if not left:
            break
        try:
            data = path.read_bytes()
        except OSError:
            continue
        left = {n for n in left if n.encode() not in data}
    return left


def orphans(uri: str, table: str, min_age_s: float = 0.0) -> list[Path]:
    """Data files of ``table`` that no version's manifest names (older than ``min_age_s``).

    ``min_age_s`` > 0 keeps files a write in progress in this process may still commit."""
    folder = table_dir(uri, table)
    if folder is None:
        return []
    if not _manifests(folder):  # no manifest: never guess
        return []
    files = {p.name: p for p in _files(folder / "data") if p.suffix == ".lance"}
    now = time.time()
    found = []
    for name in _unnamed(folder, list(files)):
        path = files[name]
        try:
            if now - path.stat().st_mtime < min_age_s:
                continue
        except OSError:
            continue
        found.append(path)
    return sorted(found)


def remove(paths: list[Path]) -> int:
    """Delete files; returns the bytes freed (a file that cannot be removed is skipped)."""
    freed = 0
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed
