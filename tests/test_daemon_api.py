"""The daemon's API, its error bodies, its security, the CLI as its client, concurrent clients, and a
bounded schemathesis run of its OpenAPI document. One real daemon process serves the whole module
(each test works in its own namespace, so sharing it hides nothing)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
import threading
import time
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import daemon_support as ds
from nuonuo import Memory
from nuonuo.config import load_config
from nuonuo.daemon.paths import DaemonPaths, read_token
from nuonuo.daemon.server import check_tcp, is_loopback
from nuonuo.errors import (ConfigError, DaemonError, InvalidInput, NotFound, PayloadTooLarge, StoreLocked,
                           Unauthorized)
from nuonuo.records import Hit, MemoryRecord

MAX_BODY = 65536


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("daemon") / "home"
    ds.write_config(home, f"""
        [store]
        lock_timeout_s = 0.5
        [daemon]
        tcp_host = "127.0.0.1"
        tcp_port = 0
        max_body_bytes = {MAX_BODY}
    """)
    r = ds.run_cli(home, "daemon", "start", "--json", timeout=300)  # as a user starts it
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["socket"] == str(home / "nuonuo.sock")
    yield home
    ds.stop(home)
    assert not DaemonPaths.of(load_config(home)).socket.exists(), "a stopped daemon left its socket behind"


@pytest.fixture
def cli(home):
    c = ds.client(home)
    yield c
    c.close()


def raw(home) -> httpx.Client:
    sock = DaemonPaths.of(load_config(home)).socket
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://nuonuo", timeout=60)


# --- the Memory API through the client -----------------------------------------------------------------
def test_client_has_memory_methods_and_round_trips(cli):
    ns = "roundtrip"
    rec = cli.remember("My sister Lena lives in Porto", key="sister", namespace=ns, metadata={"src": "t"},
                       timestamp="2024-05-01T10:00:00Z")
    assert isinstance(rec, MemoryRecord) and rec.key == "sister" and rec.metadata == {"src": "t"}
    assert rec.timestamp.startswith("2024-05-01T10:00:00")
    ids = cli.remember_many(["The API port is 8080", {"text": "Lena's husband is Tomas", "key": "bil"}],
                            namespace=ns)
    assert len(ids) == 2
    hits = cli.recall("where does my sister live?", k=3, namespace=ns)
    assert hits and isinstance(hits[0], Hit) and hits[0].id == rec.id
    assert cli.get(rec.id).text == rec.text
    newer = cli.remember("My sister Lena lives in Lisbon", key="sister", namespace=ns)
    assert cli.lookup("sister", ns).id == newer.id
    assert [r.id for r in cli.history("sister", ns)] == [newer.id, rec.id]
    assert cli.recall(key="sister", namespace=ns)[0].text.endswith("Lisbon")
    updated = cli.update(ids[0], text="The API port is 9090", importance=0.9)
    assert updated.text.endswith("9090") and updated.importance == pytest.approx(0.9)
    assert cli.namespaces()[ns] == 3
    assert {r.id for r in cli.list(ns)} == {newer.id, *ids}
    assert len(cli.list(ns, include_history=True)) == 4
    assert cli.stats()["memories"] >= 3
    assert cli.forget(ids[0]) == 1
    with pytest.raises(NotFound, match="no memory with id"):
        cli.get(ids[0])
    assert cli.forget(key="sister", namespace=ns) == 2
    assert cli.forget(namespace=ns) == 1
    assert ns not in cli.namespaces()


def test_export_writes_a_local_file_that_reimports(cli, tmp_path):
    ns = "export"
    cli.remember_many([f"exported fact number {i}" for i in range(5)], namespace=ns)
    path = tmp_path / "out.jsonl"
    assert cli.export(path, ns) == 5
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(x["text"] for x in lines) == sorted(f"exported fact number {i}" for i in range(5))


def test_a_big_import_is_split_under_the_body_limit(cli):
    items = [f"long note {i}: " + "lorem ipsum dolor sit amet " * 500 for i in range(12)]  # ~13 KB each
    assert len("".join(items).encode()) > 2 * MAX_BODY
    ids = cli.remember_many(items, namespace="bigimport")
    assert len(set(ids)) == 12 and cli.namespaces()["bigimport"] == 12


def test_bad_items_in_a_batch_store_nothing(cli):
    ns = "batchbad"
    with pytest.raises(InvalidInput, match="item 1: text is empty"):
        cli.remember_many(["fine", "   ", "also fine"], namespace=ns)
    assert ns not in cli.namespaces()
    # the daemon checks too, whatever the client did
    with raw(cli.config.home) as http:
        r = http.post("/v1/memories/batch", json={"items": ["fine", ""], "namespace": ns})
    assert r.status_code == 422 and "item 1" in r.json()["detail"]
    assert ns not in cli.namespaces()


# --- bad input over HTTP: 4xx with {"error", "detail"}, never 500, nothing lost -----------------------------
BAD_REQUESTS = [
    ("POST", "/v1/memories", b"{not json", 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": 5}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "importance": "high"}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "colour": "red"}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "\\ud800 lone surrogate"}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "timestamp": 1e300}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "timestamp": "yesterday-ish"}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "metadata": {"n": NaN}}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'{"text": "x", "namespace": "no spaces allowed"}', 422, "invalid_input"),
    ("POST", "/v1/memories", b'[1, 2, 3]', 422, "invalid_input"),
    ("POST", "/v1/memories", b"", 422, "invalid_input"),
    ("POST", "/v1/recall", b'{"query": "x", "k": 0}', 422, "invalid_input"),
    ("POST", "/v1/recall", b'{"query": "x", "k": "many"}', 422, "invalid_input"),
    ("POST", "/v1/recall", b'{"query": ""}', 422, "invalid_input"),
    ("POST", "/v1/recall", b'{"query": "x", "at": "0001-01-01T00:00:00+01:00"}', 422, "invalid_input"),
    ("GET", "/v1/memories/does-not-exist", None, 404, "not_found"),
    ("PATCH", "/v1/memories/does-not-exist", b'{"text": "y"}', 404, "not_found"),
    ("DELETE", "/v1/memories/does-not-exist", None, 404, "not_found"),
    ("POST", "/v1/forget", b'{}', 422, "invalid_input"),
    ("POST", "/v1/forget", b'{"key": "never.set"}', 404, "not_found"),
    ("POST", "/v1/associate", b'{"cue_id": "nope", "target_id": "nada"}', 404, "not_found"),
    ("POST", "/v1/consolidate", b'{"epochs": "many"}', 422, "invalid_input"),
    ("GET", "/v1/memories?limit=0", None, 422, "invalid_input"),
    ("GET", "/v1/no-such-endpoint", None, 404, "not_found"),
    ("PUT", "/v1/stats", None, 405, "method_not_allowed"),
    ("POST", "/v1/memories", b'{"text": "' + b"x" * (MAX_BODY + 10) + b'"}', 413, "too_large"),
    ("POST", "/v1/memories", b"[" * 100_00 + b"]" * 100_00, 400, "invalid_input"),
]


def test_bad_input_gets_4xx_json_and_loses_nothing(home, cli):
    before = cli.remember("a memory that must survive bad requests", namespace="survivor")
    count = cli.stats()["memories"]
    with raw(home) as http:
        for method, path, body, status, kind in BAD_REQUESTS:
            r = http.request(method, path, content=body, headers={"content-type": "application/json"})
            assert r.status_code == status, (method, path, body[:60] if body else None, r.text[:300])
            data = r.json()
            assert set(data) == {"error", "detail"} and data["error"] == kind, data
            assert data["detail"], data
        # a chunked upload (no Content-Length) over the limit is cut off too
        r = http.post("/v1/memories", content=iter([b'{"text": "', b"y" * MAX_BODY, b'"}']))
        assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert cli.stats()["memories"] == count
    assert cli.get(before.id).text == before.text


def test_client_raises_the_same_error_classes(cli):
    with pytest.raises(InvalidInput, match="text is empty"):
        cli.remember("   ")
    with pytest.raises(InvalidInput, match="k must be between"):
        cli.recall("x", k=5000)
    with pytest.raises(NotFound):
        cli.update("missing-id", text="z")
    with pytest.raises(PayloadTooLarge, match="max_body_bytes"):
        cli.remember("z" * (MAX_BODY + 1))


def test_cli_goes_through_the_daemon_with_the_same_messages(home, cli):
    # the daemon holds the store lock: an embedded CLI would fail with StoreLocked, so success here
    # means the CLI talked to the daemon
    r = ds.run_cli(home, "remember", "Remembered by the CLI through the daemon", "--ns", "viacli", "--json")
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["id"]
    assert cli.get(rid).namespace == "viacli"
    r = ds.run_cli(home, "remember", "   ")
    assert r.returncode == 2 and r.stderr.strip() == "error: text is empty"
    r = ds.run_cli(home, "forget", "no-such-id")
    assert r.returncode == 3 and r.stderr.strip() == "error: no memory with id 'no-such-id'"


def test_embedded_writer_meets_the_lock_with_a_clear_error(home):
    from nuonuo import Memory

    with pytest.raises(StoreLocked, match="nuonuo daemon start"):
        Memory.open(home)


def test_a_second_daemon_on_the_same_home_is_refused(home):
    with pytest.raises(DaemonError, match="already running"):
        ds.start(home)
    r = subprocess.run([ds.PY, "-m", "nuonuo.daemon.server", "--home", str(home)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "already running" in r.stderr


# --- security ---------------------------------------------------------------------------------------------
def test_socket_and_token_file_are_private(home):
    paths = DaemonPaths.of(load_config(home))
    assert stat.S_ISSOCK(paths.socket.stat().st_mode)
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.token.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.log.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.pidfile.stat().st_mode) == 0o600


def test_a_home_the_daemon_creates_is_private(tmp_path):
    import os

    from nuonuo.daemon.server import take_daemon_lock

    fresh = tmp_path / "fresh" / "home"
    fd = take_daemon_lock(DaemonPaths.of(load_config(fresh)))
    try:
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    finally:
        os.close(fd)


def test_tcp_needs_the_token(home):
    state = DaemonPaths.of(load_config(home)).state()
    assert state["tcp"].startswith("127.0.0.1:")
    url = f"http://{state['tcp']}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        r = httpx.get(url + "/v1/stats", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = httpx.post(url + "/v1/memories", json={"text": "sneaky write", "namespace": "sneaky"}, headers=headers)
        assert r.status_code == 401
    with pytest.raises(Unauthorized):
        ds.tcp_client(home, token=None).stats()
    with ds.tcp_client(home) as c:
        rec = c.remember("written over loopback TCP with the token", namespace="tcp")
        assert c.get(rec.id).text.startswith("written over loopback")
        assert "sneaky" not in c.namespaces()


def test_public_bind_is_refused_without_flag_and_token(tmp_path):
    other = tmp_path / "public"
    ds.write_config(other, '[daemon]\ntcp_host = "0.0.0.0"\n')
    r = subprocess.run([ds.PY, "-m", "nuonuo.daemon.server", "--home", str(other)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 4 and "refusing to listen" in r.stderr and "allow_public" in r.stderr
    assert not (other / "nuonuo.sock").exists()
    for host in ("192.0.2.10", "::", "example.org"):
        cfg = load_config(other, overrides={"daemon": {"tcp_host": host}})
        with pytest.raises(ConfigError, match="refusing to listen"):
            check_tcp(cfg, DaemonPaths.of(cfg))
        # the flag alone is not enough: a token must be there too
        cfg.daemon.allow_public = True
        with pytest.raises(ConfigError, match="needs a token"):
            check_tcp(cfg, DaemonPaths.of(cfg))
    # flag + a private token file: allowed (the daemon would then demand that token)
    paths = DaemonPaths.of(cfg)
    paths.token.write_text("a-long-random-token-the-user-chose\n")
    paths.token.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        check_tcp(cfg, paths)
    paths.token.chmod(0o600)
    assert check_tcp(cfg, paths) == "a-long-random-token-the-user-chose"
    for host in ("127.0.0.1", "::1", "localhost"):
        assert is_loopback(host)


# --- concurrency: several client processes at once ------------------------------------------------------
WORKER = textwrap.dedent("""
    import sys
    from nuonuo.daemon.client import connect
    home, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c = connect(home)
    found = 0
    for i in range(n):
        c.remember(f"worker {worker} wrote fact {i} about topic {i % 7}", namespace=f"w{worker}")
        c.remember(f"shared fact {i} from worker {worker}", namespace="shared")
        if i % 3 == 0:
            hits = c.recall(f"worker {worker} fact {i}", k=3, namespace=f"w{worker}")
            found += any(h.text == f"worker {worker} wrote fact {i} about topic {i % 7}" for h in hits)
    # every worker writes one identical text at once: the daemon keeps exactly one
    c.remember("the same sentence from every worker", namespace="same")
    ids = c.remember_many([f"batch {worker}.{j}" for j in range(10)], namespace="shared")
    assert len(set(ids)) == 10
    print(found)
""")


def test_concurrent_client_processes_counts_are_exact(home, cli):
    workers, n = 4, 9
    procs = [subprocess.Popen([ds.PY, "-c", WORKER, str(home), str(w), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        # every recall right after its own write finds it (reads see each acknowledged write)
        assert int(out.strip()) == len(range(0, n, 3))
    spaces = cli.namespaces()
    assert spaces["shared"] == workers * (n + 10)
    for w in range(workers):
        assert spaces[f"w{w}"] == n
    assert len(cli.list("shared", limit=10_000)) == workers * (n + 10)
    assert spaces["same"] == 1


def test_the_openapi_document_states_the_input_rules(home):
    """The rules of nuonuo.validate are in the document (the fuzz test below checks that the API
    accepts everything they allow), with this daemon's own text limit."""
    from nuonuo.validate import KEY_PATTERN, MAX_K, NAMESPACE_PATTERN, TEXT_PATTERN

    with raw(home) as http:
        doc = http.get("/openapi.json").json()
    bodies = doc["components"]["schemas"]
    remember, recall = bodies["RememberBody"]["properties"], bodies["RecallBody"]["properties"]
    assert remember["text"]["pattern"] == TEXT_PATTERN and remember["text"]["maxLength"] == 100_000
    assert remember["namespace"]["pattern"] == NAMESPACE_PATTERN and remember["key"]["pattern"] == KEY_PATTERN
    assert (remember["importance"]["minimum"], remember["importance"]["maximum"]) == (0, 1)
    assert remember["timestamp"]["format"] == "date-time"
    assert (recall["k"]["minimum"], recall["k"]["maximum"]) == (1, MAX_K) and recall["query"]["pattern"] == TEXT_PATTERN
    assert {"query"} in [set(alt["required"]) for alt in bodies["RecallBody"]["anyOf"]]
    assert bodies["KeyBody"]["properties"]["namespace"]["pattern"] == NAMESPACE_PATTERN
    assert {"/v1/sessions", "/v1/sessions/{id}"} <= set(doc["paths"])


# --- schemathesis: property-based fuzzing of the OpenAPI document, bounded -------------------------------
@pytest.fixture
def api_schema(home):
    state = DaemonPaths.of(load_config(home)).state()
    token = read_token(DaemonPaths.of(load_config(home)).token)
    schema = schemathesis.openapi.from_url(f"http://{state['tcp']}/openapi.json",
                                           headers={"Authorization": f"Bearer {token}"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema").include(
    path_regex="^/v1/(memories|recall|lookup|history)")


@schema.parametrize()
@settings(max_examples=int(os.environ.get("NUONUO_FUZZ_EXAMPLES", "5")), deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_never_500(case, home):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, positive_data_acceptance,
                                                   response_schema_conformance, status_code_conformance)

    token = read_token(DaemonPaths.of(load_config(home)).token)
    # positive_data_acceptance: what the schema allows is accepted (the document states every input
    # rule of nuonuo.validate, so a 4xx for schema-valid data is a bug of the document or the API)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance, positive_data_acceptance])


# --- links and sleep (consolidation may merge near-duplicates store-wide: after the counting tests) -----
def test_links_and_sleep_through_the_daemon(home, cli):
    ns = "links"
    a = cli.remember("Lena is my sister", namespace=ns)
    b = cli.remember("Tomas works at the harbour", namespace=ns)
    cli.associate(a.id, b.id, weight=2.0, kind="married")
    assert any(r["other"] == b.id and r["direction"] == "out" for r in cli.associations(a.id))
    with pytest.raises(NotFound):
        cli.associate(a.id, "no-such-id")
    report = cli.consolidate(epochs=1, paraphrase="off")
    assert report["reason"] == "manual" and report["run_id"]
    sleep = cli.status()["sleep"]
    assert sleep["last_report"]["run_id"] == report["run_id"] and sleep["next_run"] and not sleep["running"]
    r = ds.run_cli(home, "daemon", "status")
    assert r.returncode == 0 and "running: pid" in r.stdout and "socket:" in r.stdout
    assert "sleep: next run" in r.stdout and "last sleep: 20" in r.stdout, r.stdout


# --- graceful stop (stops the module's daemon: keep it last) -------------------------------------------
def test_stop_lets_an_in_flight_write_finish(home, encoder):
    """The module's last test: `daemon stop` while a bulk write is in flight."""
    client = ds.client(home)
    items = [f"graceful item {i} {uuid.uuid4().hex[:6]}" for i in range(300)]
    result: dict = {}

    def write():
        try:
            result["ids"] = client.remember_many(items, namespace="g", batch_size=300)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            result["error"] = exc

    t0 = time.time()
    t = threading.Thread(target=write)
    t.start()
    while client.status()["idle_s"] > time.time() - t0:  # wait until the daemon has the request body
        time.sleep(0.01)
    r = ds.run_cli(home, "daemon", "stop")  # SIGTERM while the 300 texts are being encoded and committed
    assert r.returncode == 0 and r.stdout.startswith("daemon stopped (pid"), r
    t.join(timeout=120)
    assert "error" not in result, result.get("error")
    assert len(result["ids"]) == 300
    paths = DaemonPaths.of(load_config(home))
    assert not paths.running() and not paths.socket.exists() and not paths.pidfile.exists()
    with Memory(load_config(home), encoder) as mem:  # the store opens, with the whole batch in it
        assert [mem.get(i).text for i in result["ids"]] == items
