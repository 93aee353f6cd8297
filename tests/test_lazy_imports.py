"""LanceDB imported without running the namespace REST client's package ``__init__``
(``nuonuo.lazy_imports``): a store works, and the deferred package still gives its names on use."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from nuonuo import lazy_imports
lancedb = lazy_imports.lancedb()
assert lazy_imports.lancedb() is lancedb
assert "lance_namespace_urllib3_client.api" not in sys.modules
import pyarrow as pa
db = lancedb.connect(sys.argv[1])
tbl = db.create_table("t", pa.table({"a": [1, 2, 3]}))
tbl.add(pa.table({"a": [4]}))
assert sorted(db.open_table("t").to_arrow().column("a").to_pylist()) == [1, 2, 3, 4]
assert "lance_namespace_urllib3_client.api" not in sys.modules
import lance_namespace_urllib3_client as client
assert client.ApiClient.__name__ == "ApiClient" and client.TableApi.__name__ == "TableApi"  # runs the __init__
assert "lance_namespace_urllib3_client.api" in sys.modules
from lance_namespace_urllib3_client.models import JsonArrowSchema
print("ok")
"""


def test_lancedb_without_the_rest_client_then_with_it(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "db")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
