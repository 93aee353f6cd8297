"""The user's path through the CLI (click's CliRunner, real store in a temp home)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from nuonuo.cli.main import main


def test_keyed_facts_through_the_cli(nuonuo_home, encoder, monkeypatch):
    monkeypatch.setattr("nuonuo.memory.load_encoder", lambda *a, **kw: encoder)  # the real one, loaded once
    run = CliRunner()
    first = run.invoke(main, ["remember", "Europe/Lisbon", "--key", "user.timezone"])
    assert first.exit_code == 0, first.output
    assert run.invoke(main, ["remember", "America/New_York", "--key", "User Timezone"]).exit_code == 0
    assert run.invoke(main, ["remember", "My gym locker code is ALPHA7"]).exit_code == 0

    got = run.invoke(main, ["recall", "--key", "user  timezone", "--json"])
    assert got.exit_code == 0, got.output
    hits = json.loads(got.stdout)
    assert hits[0]["text"] == "America/New_York" and hits[0]["source"] == "exact"

    history = run.invoke(main, ["recall", "--key", "user.timezone", "--history"])
    assert history.exit_code == 0
    assert history.output.index("America/New_York") < history.output.index("Europe/Lisbon")

    asked = run.invoke(main, ["recall", "locker code ALPHA7", "-k", "1", "--json"])
    assert asked.exit_code == 0 and "ALPHA7" in asked.output

    stats = run.invoke(main, ["stats", "--json"])
    engram = json.loads(stats.stdout)["engram"]
    assert engram["keys"] == 1 and engram["key_buckets"] > 0 and "key_collisions" in engram

    missing = run.invoke(main, ["recall", "--key", "no such key"])
    assert missing.exit_code != 0 and "no memory has the key" in missing.stderr
