"""remember, recall, forget, list, stats, export, import."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nuonuo.cli.context import Context, emit_json
from nuonuo.errors import InvalidInput, NotFound
from nuonuo.sentences import matched_sentence
from nuonuo.validate import check_item

if TYPE_CHECKING:
    from nuonuo.api import MemoryAPI

pass_ctx = click.make_pass_decorator(Context)


def parse_meta(pairs: tuple[str, ...]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidInput(f"--meta takes key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        if not k.strip():
            raise InvalidInput(f"--meta key is empty in {pair!r}")
        meta[k.strip()] = v
    return meta


def read_jsonl(path: str, plain: bool = False) -> tuple[list[dict], list[str]]:
    """Items of a JSON-lines file (objects, or JSON strings as texts) and the problems found, with
    line numbers; ``plain``: each non-empty line is one memory's text as it stands (a transcript,
    a notes file)."""
    items: list[dict] = []
    problems: list[str] = []
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    for no, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"line {no}: not valid UTF-8 (byte {exc.start})")
            continue
        if not text.strip():
            continue
        if plain:
            items.append({"text": text.rstrip("\r"), "_line": no})
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"line {no}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict):
            problems.append(f"line {no}: expected an object with \"text\", got {type(value).__name__}")
            continue
        value["_line"] = no
        items.append(value)
    return items, problems


def bulk_import(obj: Context, path: str, namespace: str, skip_bad: bool, as_json: bool, plain: bool = False) -> None:
    items, problems = read_jsonl(path, plain)
    mem = obj.backend()
    # validate every item up front so that the outcome is all-or-nothing unless --skip-bad
    good: list[dict] = []
    for item in items:
        line = item.pop("_line")
        try:
            check_item(item, namespace, mem.config.store.max_text_chars)
            good.append(item)
        except InvalidInput as exc:
            problems.append(f"line {line}: {exc.message}")
    if problems and not skip_bad:
        listing = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise InvalidInput(f"{path}: {len(problems)} bad line(s), nothing imported "
                           f"(fix them, or pass --skip-bad to import the {len(good)} good ones):\n  {listing}")
    with click.progressbar(length=len(good), label="remembering", file=sys.stderr) as bar:
        ids = mem.remember_many(good, namespace=namespace, progress=bar.update)
    new = len(set(ids))
    if as_json:
        emit_json({"imported": len(good), "ids": ids, "skipped_lines": problems})
    else:
        click.echo(f"imported {len(good)} item(s) from {path} ({new} distinct memories)")
        if problems:
            click.echo(f"skipped {len(problems)} bad line(s):\n  " + "\n  ".join(problems), err=True)


@click.command()
@click.argument("text", required=False)
@click.option("--key", default=None, help="An exact key for this fact (e.g. user.timezone).")
@click.option("--ns", "namespace", default="default", show_default=True, help="Namespace.")
@click.option("--meta", multiple=True, metavar="K=V", help="Metadata, repeatable.")
@click.option("--timestamp", default=None, help="When this happened (ISO-8601); default now.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), default=None,
              help="A JSON-lines file of items ({\"text\": …, \"key\": …, \"metadata\": {…}, \"timestamp\": …}).")
@click.option("--lines", is_flag=True,
              help="With --file: a plain text file, each non-empty line one memory (a chat transcript's "
                   "\"Name: …\" lines are then turns of one conversation).")
@click.option("--skip-bad", is_flag=True, help="With --file: import the good lines and report the bad ones.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def remember(obj: Context, text, key, namespace, meta, timestamp, file_, lines, skip_bad, as_json) -> None:
    """Remember TEXT (or every item of --file)."""
    if lines and not file_:
        raise InvalidInput("--lines goes with --file")
    if file_:
        if text:
            raise InvalidInput("give either TEXT or --file, not both")
        bulk_import(obj, file_, namespace, skip_bad, as_json, plain=lines)
        return
    if text is None:
        if sys.stdin.isatty():
            raise InvalidInput("nothing to remember: give TEXT, --file, or pipe text on stdin")
        text = sys.stdin.read()
    rec = obj.backend().remember(text, key=key, namespace=namespace, metadata=parse_meta(meta), timestamp=timestamp)
    if as_json:
        emit_json(rec.to_dict())
    else:
        click.echo(f"remembered {rec.id}" + (f" (key {rec.key})" if rec.key else ""))


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command()
@click.argument("query", required=False)
@click.option("-k", "k", type=int, default=None, help="How many hits (default from config: 10).")
@click.option("--ns", "namespace", default="default", show_default=True)
@click.option("--key", default=None, help="Look up an exact key instead of a query.")
@click.option("--history", is_flag=True, help="With --key: every value the key has had, newest first.")
@click.option("--at", default=None, help="The time of asking (ISO-8601): later memories are ignored.")
@click.option("--explain", is_flag=True, help="Show each hit's channel scores and association chain.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def recall(obj: Context, query, k, namespace, key, history, at, explain, as_json) -> None:
    """Recall memories relevant to QUERY."""
    mem = obj.backend(reads_only=True)
    if key is None and not query:
        raise InvalidInput("give a QUERY or --key")
    if namespace != "default" and namespace not in mem.namespaces():
        known = ", ".join(mem.namespaces()) or "none yet"
        raise NotFound(f"namespace {namespace!r} has no memories (namespaces: {known})")
    if key is not None and history:
        recs = mem.history(key, namespace)
        if not recs:
            raise NotFound(f"no memory has the key {key!r} in namespace {namespace!r}")
        if as_json:
            emit_json([r.to_dict() for r in recs])
        else:
            for r in recs:
                mark = "current" if r.status == "active" else "old"
                click.echo(f"{r.timestamp}  {mark:<7}  {truncate(r.text, 80)}")
        return
    hits = mem.recall(query, k=k, namespace=namespace, at=at, key=key)
    if key is not None and not hits:
        raise NotFound(f"no memory has the key {key!r} in namespace {namespace!r}")
    if as_json:
        emit_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("no memories found", err=True)
        return
    if explain and query:
        _explain_time(query, at)
    click.echo(f"{'#':>2}  {'score':>5}  {'source':<12}  text")
    for rank, h in enumerate(hits, start=1):
        source = h.source + (f"/{h.hops}" if h.hops else "")
        click.echo(f"{rank:>2}  {h.score:5.3f}  {source:<12}  {truncate(h.text, 90)}")
        if explain:
            detail = ", ".join(f"{name}={value:.3f}" for name, value in h.scores.items() if name != "sentence_at")
            click.echo(f"{'':>23}{detail}  id={h.id}")
            if (said := matched_sentence(h.text, h.scores)) is not None:
                click.echo(f"{'':>23}sentence: {truncate(said, 90)}")
            if h.path:
                chain = " → ".join(truncate(text, 30) for text in _texts(mem, h.path))
                click.echo(f"{'':>23}chain: {chain}")


def _explain_time(query: str, at: str | None) -> None:
    """The days the question names, if it names a time (``nuonuo.timespan``): recall prefers the
    memories from then, and each hit from elsewhere shows its ``time_nearness``."""
    import time

    from nuonuo.records import to_epoch
    from nuonuo.timespan import question_span

    when = to_epoch(at, "--at") if at else None
    span = question_span(query, time.time() if when is None else when)
    if span is not None:
        day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))  # noqa: E731
        click.echo(f"time named: {day(span.start)} – {day(span.end)}")


def _texts(mem: MemoryAPI, ids: list[str]) -> list[str]:
    """The texts of the memories still there (one may be forgotten since the recall)."""
    out = []
    for mid in ids:
        try:
            out.append(mem.get(mid).text)
        except NotFound:
            continue
    return out


@click.command()
@click.argument("id", required=False)
@click.option("--key", default=None, help="Forget every value of this key.")
@click.option("--ns", "namespace", default=None, help="With --key: its namespace; alone: forget the whole namespace.")
@click.option("--yes", is_flag=True, help="Confirm forgetting a whole namespace.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def forget(obj: Context, id, key, namespace, yes, as_json) -> None:
    """Forget a memory by ID, a key (--key), or a namespace (--ns NS --yes)."""
    mem = obj.backend()
    if id:
        n = mem.forget(id)
    elif key:
        n = mem.forget(key=key, namespace=namespace or "default")
    elif namespace:
        if not yes:
            raise InvalidInput(f"forgetting the whole namespace {namespace!r} needs --yes")
        n = mem.forget(namespace=namespace)
    else:
        raise InvalidInput("give an ID, --key K, or --ns NS --yes")
    if as_json:
        emit_json({"forgotten": n})
    else:
        click.echo(f"forgot {n} memor{'y' if n == 1 else 'ies'}")


@click.command(name="list")
@click.option("--ns", "namespace", default="default", show_default=True)
@click.option("--all-ns", is_flag=True, help="Every namespace.")
@click.option("--limit", type=click.IntRange(1, None), default=50, show_default=True)
@click.option("--history", is_flag=True, help="Include superseded values of keys.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, namespace, all_ns, limit, history, as_json) -> None:
    """List memories, newest first."""
    recs = obj.backend(reads_only=True).list(None if all_ns else namespace, limit=limit, include_history=history)
    if as_json:
        emit_json([r.to_dict() for r in recs])
        return
    for r in recs:
        key = f"[{r.key}] " if r.key else ""
        click.echo(f"{r.id}  {(r.timestamp or '')[:19]}  {r.namespace:<10}  {key}{truncate(r.text, 70)}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def stats(obj: Context, as_json) -> None:
    """Counts, namespaces, store and index figures."""
    data = obj.backend(reads_only=True).stats()
    if as_json:
        emit_json(data)
        return
    for name, value in data.items():
        if isinstance(value, dict):
            click.echo(f"{name}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{name}: {value}")


@click.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--ns", "namespace", default=None, help="Only this namespace.")
@pass_ctx
def export_(obj: Context, file, namespace) -> None:
    """Write every memory to FILE as JSON lines (re-importable with `nuonuo import`)."""
    n = obj.backend(reads_only=True).export(file, namespace)
    click.echo(f"exported {n} memories to {file}")


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--ns", "namespace", default="default", show_default=True,
              help="Namespace for items that name none.")
@click.option("--skip-bad", is_flag=True, help="Import the good lines and report the bad ones.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def import_(obj: Context, file, namespace, skip_bad, as_json) -> None:
    """Import memories from a JSON-lines FILE (as written by `nuonuo export`)."""
    bulk_import(obj, file, namespace, skip_bad, as_json)
