"""The shape of ``nuonuo/`` (docs/layers.md), read from the source with ``ast`` (nothing is imported):

1. the import graph has no circle, and the core modules import only their own layer or below;
2. no module reads another's ``_private`` members;
3. no file over ``MAX_FILE_LINES`` lines, no function over ``MAX_FUNCTION_LINES``;
4. the live table schemas equal the newest frozen ones in ``nuonuo.migrations``.

How the import graph is drawn. Every ``import`` statement anywhere in a module counts: at the top,
inside functions (lazy imports) and under ``if TYPE_CHECKING:`` (a type-only import is still a
dependency; the code uses protocols instead: ``nuonuo.component.MemoryView``,
``nuonuo.views.FacadeView``). Edges go to the modules the statement names: ``import a.b`` →
``a.b``; ``from a.b import c`` → ``a.b`` (the statement reads ``c`` from its namespace) and also
``a.b.c`` when that is a module; relative imports are resolved. So ``from nuonuo import store_files``
depends on the package root, whose ``__getattr__`` imports ``nuonuo.memory`` (the public
``from nuonuo import Memory``): a module under ``Memory`` writes ``import nuonuo.store_files as
store_files`` instead. The parent packages Python runs first for any import (``import a.b`` runs
``a/__init__``) are not counted beyond that: every module would depend on its package, and a
package that re-exports its own submodules (``nuonuo.engram``) would be a circle by construction.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nuonuo"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

# Functions still over the limit, with the reason; the list may only shrink.
LONG_FUNCTIONS: set[tuple[str, str]] = set()

# Layers of the library's core, bottom first (DESIGN.md, "Layers"). A core module may import its own
# layer or a lower one; modules not listed (cli/, daemon/, chat/ but its model adapter, events and session
# store, the MemoryAPI protocol (nuonuo.api, beside the values it names), mcp_server,
# shared_memory, scheduler, doctor, backup, the package root) are shells: above all of these.
LAYERS = [
    ("math", {"nuonuo.memtrim", "nuonuo.linalg", "nuonuo.hopfield", "nuonuo.hebbian", "nuonuo.ivf", "nuonuo.canonical",
              "nuonuo.engram.hashing", "nuonuo.engram.gate", "nuonuo.engram.keys", "nuonuo.engram.ngram"}),
    ("values", {"nuonuo.errors", "nuonuo.records", "nuonuo.config", "nuonuo.validate",
                "nuonuo.encoder_models", "nuonuo.onnx_encoder", "nuonuo.encoder", "nuonuo.chat.llm",
                "nuonuo.chat.events", "nuonuo.api", "nuonuo.lazy_imports", "nuonuo.turns", "nuonuo.pipeline", "nuonuo.sentences",
                "nuonuo.timespan"}),
    ("storage", {"nuonuo.store_files", "nuonuo.store", "nuonuo.store_snapshot", "nuonuo.migrations", "nuonuo.edges",
                 "nuonuo.record_cache"}),
    ("component protocol", {"nuonuo.component"}),
    ("components", {"nuonuo.engram.component", "nuonuo.engram", "nuonuo.associations",
                    "nuonuo.conversation", "nuonuo.sentence_index", "nuonuo.chat.sessions"}),
    ("facade", {"nuonuo.views", "nuonuo.recall", "nuonuo.consolidation", "nuonuo.memory"}),
]
LAYER_OF = {mod: i for i, (_, mods) in enumerate(LAYERS) for mod in mods}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(t for a in node.names if (t := known(a.name)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                if base_mod := known(base):
                    edges.add(base_mod)
                edges.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods)
        edges.discard(mod)
        graph[mod] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(mod: str) -> list[str] | None:
        state[mod] = 1
        path.append(mod)
        for nxt in sorted(graph[mod]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph):
        if mod not in state and (found := visit(mod)):
            return found
    return None


def test_the_graph_reader_sees_every_kind_of_import():
    graph = import_graph()
    assert "nuonuo.memory" in graph["nuonuo"]  # lazy import in __getattr__ and under TYPE_CHECKING
    assert "nuonuo.onnx_encoder" in graph["nuonuo.encoder"]  # a lazy ``from nuonuo.onnx_encoder import …``
    assert {"nuonuo", "nuonuo.errors"} <= graph["nuonuo.daemon.client"]  # ``from nuonuo import errors``
    assert "nuonuo.views" in graph["nuonuo.recall"]  # under TYPE_CHECKING only
    assert "nuonuo.engram.component" in graph["nuonuo.engram"]  # ``from nuonuo.engram.component import …``


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_in_nuonuo():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_core_modules_import_only_their_layer_or_below():
    graph = import_graph()
    assert set(LAYER_OF) <= set(graph), set(LAYER_OF) - set(graph)  # the table names real modules
    upward = []
    for mod, layer in LAYER_OF.items():
        for dep in sorted(graph[mod]):
            if LAYER_OF.get(dep, len(LAYERS)) > layer:
                where = LAYERS[LAYER_OF[dep]][0] if dep in LAYER_OF else "shells"
                upward.append(f"{mod} ({LAYERS[layer][0]}) imports {dep} ({where})")
    assert not upward, "\n".join(upward)


# --- private members ------------------------------------------------------------------------------------
def _defined_private_names(tree: ast.AST) -> set[str]:
    """``_names`` a module defines: functions, classes, attributes it assigns, ``__slots__`` entries."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(source: str, rel: str) -> list[str]:
    """``x._name`` (and ``getattr/setattr/hasattr(x, "_name")``) where x is not ``self``/``cls`` and
    ``_name`` is not defined in this module (``rel`` names it in the messages)."""
    tree = ast.parse(source)
    own = _defined_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            holder = node.value
            if isinstance(holder, ast.Name) and holder.id in ("self", "cls"):
                continue
            if node.attr not in own:
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _is_private(node.args[1].value) and node.args[1].value not in own):
            found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def test_the_private_check_catches_a_reach():
    source = ("def f(mem, other):\n    mem._lock\n    getattr(other, '_records', None)\n    mem.__class__\n"
              "\n\nclass A:\n    def g(self, o):\n        self._x = o._x\n")
    assert private_reaches(source, "x.py") == ["x.py:2: mem._lock", "x.py:3: getattr(other, '_records', None)"]


def test_no_module_reads_another_modules_private_members():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             for hit in private_reaches(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not found, "private members read outside their module:\n" + "\n".join(found)


# --- sizes ---------------------------------------------------------------------------------------------
def test_no_file_or_function_is_too_long():
    too_long = []
    seen_allowed = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(ROOT))
        lines = text.count("\n")
        if lines > MAX_FILE_LINES:
            too_long.append(f"{rel}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    if (rel, node.name) in LONG_FUNCTIONS:
                        seen_allowed.add((rel, node.name))
                        continue
                    too_long.append(f"{rel}:{node.lineno}: {node.name} is {length} lines")
    assert not too_long, "\n".join(too_long)
    assert seen_allowed == LONG_FUNCTIONS, f"short now, drop from LONG_FUNCTIONS: {LONG_FUNCTIONS - seen_allowed}"


# --- frozen schemas ------------------------------------------------------------------------------------
def test_live_schemas_equal_the_newest_frozen_ones():
    """A column added to a live schema needs a migration step (and its frozen schema) too."""
    from nuonuo import migrations
    from nuonuo.chat import sessions
    from nuonuo.edges import ASSOCIATION_SCHEMA, W_SNAPSHOT_SCHEMA
    from nuonuo.sentence_index import SENTENCE_KEYS_SCHEMA
    from nuonuo.store import META_SCHEMA, memory_schema

    assert memory_schema(384).equals(migrations.memories_v1(384))
    assert META_SCHEMA.equals(migrations.META_V1)
    assert ASSOCIATION_SCHEMA.equals(migrations.ASSOCIATIONS_V3)
    assert sessions.SESSION_SCHEMA.equals(migrations.CHAT_SESSIONS_V4)
    assert sessions.TURN_SCHEMA.equals(migrations.CHAT_TURNS_V4)
    assert W_SNAPSHOT_SCHEMA.equals(migrations.HEBBIAN_W_V5)
    assert SENTENCE_KEYS_SCHEMA.equals(migrations.SENTENCE_KEYS_V6)
