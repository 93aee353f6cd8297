"""Imports that a short process (a CLI call) should not pay for in full.

``import lancedb`` takes ~1.1 s, and ~0.45 s of it is one package a local store never uses:
``lancedb.db`` imports ``lance_namespace``, whose models live in ``lance_namespace_urllib3_client``;
importing any of those models first runs that package's ``__init__``, which also imports the whole
generated REST client of the Lance namespace service (nine ``*_api`` modules whose hundreds of
methods are wrapped in pydantic's ``validate_call`` at import time, plus ``ApiClient`` and urllib3).

``lancedb()`` imports LanceDB with that package's ``__init__`` deferred: the package module is
created from its real spec (so ``lance_namespace_urllib3_client.models`` and every other submodule
import as usual, from the real files) and its own ``__init__`` runs the first time anything reads
one of its attributes (``lance_namespace_urllib3_client.ApiClient``, as a REST namespace would).
Nothing is patched or replaced: the same code runs, later or never. Where the package is missing or
already imported, or is laid out otherwise, LanceDB is imported as usual.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

_DEFERRED = "lance_namespace_urllib3_client"
_lock = threading.Lock()


def _defer_package_init(name: str) -> None:
    """Put a package into ``sys.modules`` whose ``__init__`` runs on first attribute access."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)  # __name__, __path__, __spec__, __file__ set
    state = {"done": False}
    load_lock = threading.RLock()

    def __getattr__(attr: str) -> Any:  # only for names the module does not have yet
        with load_lock:
            if not state["done"]:
                state["done"] = True
                del module.__dict__["__getattr__"]
                loader.exec_module(module)  # the package's real __init__
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module


def lancedb() -> types.ModuleType:
    """The ``lancedb`` module, imported without the Lance namespace REST client (see above)."""
    mod = sys.modules.get("lancedb")
    if mod is not None:
        return mod
    with _lock:
        if "lancedb" not in sys.modules:
            _defer_package_init(_DEFERRED)
        import lancedb

    return lancedb
