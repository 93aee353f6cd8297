"""The CLI through click's CliRunner, on the real encoder and a real store (NUONUO_HOME is a temp dir)."""

import json

import pytest
from click.testing import CliRunner

from nuonuo.cli import main


@pytest.fixture
def run(encoder):  # the encoder fixture warms the shared model once for the session
    runner = CliRunner()

    def _run(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return _run


def test_remember_and_recall_table_and_json(run):
    r = run("remember", "My sister Lena lives in Porto and works as a marine biologist")
    assert r.exit_code == 0 and r.output.startswith("remembered ")
    r = run("remember", "The wifi password at the cabin is tidepool-42", "--meta", "place=cabin")
    assert r.exit_code == 0
    r = run("recall", "where does my sister live?")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split() == ["#", "score", "source", "text"]
    assert "Lena lives in Porto" in lines[1]
    assert lines[1].split()[2] in {"hopfield", "ngram", "exact", "hebbian"}
    r = run("recall", "cabin wifi", "--json", "-k", "5")
    hits = json.loads(r.output)
    assert hits[0]["text"].startswith("The wifi password") and hits[0]["metadata"] == {"place": "cabin"}
    assert set(hits[0]) >= {"id", "text", "score", "source", "hops", "key", "metadata", "timestamp"}


def test_bulk_file_with_progress_list_stats_forget(run, tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("\n".join(json.dumps({"text": f"note number {i}", "metadata": {"i": i}}) for i in range(30)))
    r = run("remember", "--file", str(notes))
    assert r.exit_code == 0 and "imported 30 item(s)" in r.output
    stats = json.loads(run("stats", "--json").output)
    assert stats["memories"] == 30
    listed = json.loads(run("list", "--json", "--limit", "5").output)
    assert len(listed) == 5
    r = run("forget", listed[0]["id"])
    assert r.exit_code == 0 and "forgot 1 memory" in r.output
    assert json.loads(run("stats", "--json").output)["memories"] == 29


def test_bad_jsonl_lines_are_reported_and_nothing_imported(run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "good one"}\n{"text": \n{"text": ""}\n\xff\xfe broken\n[1, 2]\n{"text": "good two"}\n')
    r = run("remember", "--file", str(bad))
    assert r.exit_code == 2
    for needle in ["line 2: not valid JSON", "line 3: text is empty", "line 4: not valid UTF-8",
                   "line 5: expected an object", "nothing imported"]:
        assert needle in r.output  # CliRunner mixes stderr into output
    assert json.loads(run("stats", "--json").output)["memories"] == 0
    r = run("remember", "--file", str(bad), "--skip-bad")
    assert r.exit_code == 0 and "imported 2 item(s)" in r.output and "skipped 4 bad line(s)" in r.output
    assert json.loads(run("stats", "--json").output)["memories"] == 2


def test_export_import_between_homes(run, tmp_path, monkeypatch):
    run("remember", "Europe/Lisbon", "--key", "user.timezone")
    run("remember", "a dated fact", "--timestamp", "2021-03-04T05:06:07Z", "--ns", "work")
    out = tmp_path / "dump.jsonl"
    r = run("export", str(out))
    assert r.exit_code == 0 and "exported 2" in r.output
    monkeypatch.setenv("NUONUO_HOME", str(tmp_path / "second"))
    r = run("import", str(out))
    assert r.exit_code == 0, r.output
    hits = json.loads(run("recall", "a dated fact", "--ns", "work", "--json").output)
    assert hits[0]["timestamp"].startswith("2021-03-04T05:06:07")
    assert json.loads(run("recall", "--key", "User Timezone", "--json").output)[0]["text"] == "Europe/Lisbon"


@pytest.mark.parametrize("args, code, needle", [
    (["remember", ""], 2, "text is empty"),
    (["recall", "x", "-k", "0"], 2, "k must be between 1 and 1000"),
    (["recall", "x", "--ns", "nope"], 3, "namespace 'nope' has no memories"),
    (["recall"], 2, "give a QUERY or --key"),
    (["forget", "no-such-id"], 3, "no memory with id"),
    (["remember", "x", "--meta", "novalue"], 2, "--meta takes key=value"),
    (["remember", "--file", "/nonexistent/file.jsonl"], 2, "cannot read"),
    (["recall", "--key", "never.set"], 3, "no memory has the key"),
])
def test_errors_go_to_stderr_with_a_non_zero_exit(args, code, needle):
    runner = CliRunner()
    r = runner.invoke(main, args)
    assert r.exit_code == code, r.output
    assert f"error: " in r.stderr and needle in r.stderr
    assert "Traceback" not in r.output


def test_corrupt_config_is_a_clear_error(nuonuo_home):
    nuonuo_home.mkdir(parents=True, exist_ok=True)
    (nuonuo_home / "config.toml").write_text("[recall\nk = 3\n")
    r = CliRunner().invoke(main, ["recall", "anything"])
    assert r.exit_code == 4 and "is not valid TOML" in r.stderr
    (nuonuo_home / "config.toml").write_text("[recall]\nk = 'many'\n")
    r = CliRunner().invoke(main, ["recall", "anything"])
    assert r.exit_code == 4 and "expected int" in r.stderr


def test_a_transcript_file_is_remembered_as_a_conversation(run, tmp_path):
    """A chat saved as plain "Name: …" lines: `remember --file --lines` keeps each line a memory, and recall
    keys each by the lines around it (the reply naming the place is found through the question)."""
    notes = [f"Reminder {i}: " + t for i, t in enumerate(["water the tomato plants", "renew the car insurance",
                                                          "the bike needs a new chain", "pay the electricity bill"])]
    assert run("remember", "--file", str(_lines(tmp_path / "notes.txt", notes)), "--lines").exit_code == 0
    chat = ["Ana: We finally picked a place for the team offsite this year.",
            "Ben: The old harbour warehouse in Porto, from the 14th to the 16th.",
            "Ana: Nice, I will book the train tickets tonight."]
    r = run("remember", "--file", str(_lines(tmp_path / "chat.txt", chat)))
    assert r.exit_code == 2 and "line 1: not valid JSON" in r.output  # without --lines a file is JSON lines
    assert run("remember", "--file", str(_lines(tmp_path / "chat.txt", chat)), "--lines").exit_code == 0
    hits = json.loads(run("recall", "Where is the team offsite?", "--json", "-k", "7").output)
    reply = next(h for h in hits if h["text"] == chat[1])
    assert "context" in reply["scores"] and reply["scores"]["context"] > 0
    assert all("context" not in h["scores"] for h in hits if h["text"] in notes)  # notes stay on their own


def _lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_explain_names_the_days_a_question_points_at(run):
    assert run("remember", "I bought sculpting tools for the competition",
               "--timestamp", "2024-03-01T12:00:00").exit_code == 0
    assert run("remember", "I bought some new sculpting tools for the contest",
               "--timestamp", "2024-05-16T12:00:00").exit_code == 0
    r = run("recall", "What sculpting tools did I buy four weeks ago?", "--at", "2024-06-12T18:00:00", "--explain")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == "time named: 2024-05-11 – 2024-05-19"
    assert "new sculpting tools for the contest" in lines[2]  # the one from then comes first
    assert "time_nearness=" in r.output  # the other one shows how far from then it was
    plain = run("recall", "What sculpting tools did I buy?", "--at", "2024-06-12T18:00:00", "--explain")
    assert "time named" not in plain.output
