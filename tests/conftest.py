"""Shared fixtures. Every test gets its own NUONUO_HOME in a temp folder (never the user's data),
and the real bundled encoder, loaded once per test session."""

from __future__ import annotations

import pytest

from nuonuo.config import load_config
from nuonuo.encoder import load_encoder


@pytest.fixture(autouse=True)
def nuonuo_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NUONUO_HOME", str(home))
    monkeypatch.delenv("NUONUO_CONFIG", raising=False)
    return home


@pytest.fixture(scope="session")
def encoder():
    return load_encoder()


@pytest.fixture
def mem(nuonuo_home, encoder):
    from nuonuo import Memory

    m = Memory(load_config(nuonuo_home), encoder)
    yield m
    m.close()


@pytest.fixture
def reopen(nuonuo_home, encoder):
    """Open the same home again (after the first Memory is closed)."""
    from nuonuo import Memory

    opened = []

    def _open(**overrides):
        m = Memory(load_config(nuonuo_home, overrides=overrides or None), encoder)
        opened.append(m)
        return m

    yield _open
    for m in opened:
        m.close()
