"""Beyond one machine: two daemons (two homes, as on two machines) serving one store in S3-compatible
object storage (moto's server, started here on 127.0.0.1). What one remembers the other recalls."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto.server import ThreadedMotoServer

import daemon_support as ds
from nuonuo import Memory
from nuonuo.config import load_config
from nuonuo.errors import NotFound


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="team-memory")
    yield endpoint
    server.stop()


def test_two_daemons_share_one_object_store(tmp_path, s3_endpoint, encoder):
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    for home in homes:
        ds.write_config(home, f"""
            [store]
            uri = "s3://team-memory/nuonuo"
            storage_options = {{ aws_endpoint = "{s3_endpoint}", aws_access_key_id = "test", aws_secret_access_key = "test", aws_region = "us-east-1", allow_http = "true" }}
            [daemon]
            refresh_interval_s = 0
            [sleep]
            schedule = ""
        """)
    # the store's first open writes its tables and seeds: do it once here, then start both daemons at once
    Memory(load_config(homes[0]), encoder).close()
    starters = [threading.Thread(target=ds.start, args=(home,)) for home in homes]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    a, b = ds.client(homes[0]), ds.client(homes[1])
    rec = a.remember("The team's staging database lives on port 5433", key="staging.db.port", namespace="team")
    try:
        assert b.stats()["store"] == "s3://team-memory/nuonuo"
        hits = b.recall("which port does staging use?", k=3, namespace="team")
        assert hits and hits[0].id == rec.id
        assert b.lookup("staging.db.port", "team").id == rec.id

        # and back: B writes, A sees it at once (refresh_interval_s = 0)
        rec2 = b.remember("The team's staging database moved to port 6543", key="staging.db.port",
                          namespace="team")
        assert a.lookup("staging.db.port", "team").id == rec2.id
        assert [r.id for r in a.history("staging.db.port", "team")] == [rec2.id, rec.id]
        assert a.namespaces()["team"] == b.namespaces()["team"] == 1
        ids = a.remember_many([f"team note {i}" for i in range(5)], namespace="team")
        assert {r.id for r in b.list("team", limit=100)} == {rec2.id, *ids}

        assert a.forget(ids[0]) == 1
        with pytest.raises(NotFound):
            b.get(ids[0])
        assert b.status()["reloads"] >= 3
    finally:
        a.close()
        b.close()
        for home in homes:
            ds.stop(home)
