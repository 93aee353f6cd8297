"""``nuonuo chat``: a chat with the local model whose evicted context becomes memory.

``--plain`` is line mode: one message per input line, the reply on stdout (one line per reply),
notes on stderr with ``-v``; usable in scripts and pipes. ``open_chat`` is what a front end
(the Textual TUI) calls to get a ready ``ChatLoop``; ``run_plain`` drives one in line mode.
"""

from __future__ import annotations

import sys
from typing import IO, Iterable

import click

from nuonuo.cli.context import Context, emit_json
from nuonuo.errors import StoreLocked

pass_ctx = click.make_pass_decorator(Context)
QUIT = {"/quit", "/exit", "/q"}


def open_chat(obj: Context, session_id: str | None = None, namespace: str | None = None,
              model_path: str | None = None, max_tokens: int | None = None):
    """The memory, the model and a ``ChatLoop`` (resumed when ``session_id`` is given).

    The memory is the daemon's client when a daemon serves the home (the chat's memories and
    session then live in the daemon, and other clients see them at once), else the store in this
    process."""
    from nuonuo.chat import ChatLoop, load_chat_model

    try:
        memory = obj.backend()
    except StoreLocked as exc:
        raise StoreLocked(f"{exc.message}. To chat while another program uses this home, run the daemon "
                          "(`nuonuo daemon start`): the chat and every other client then share it") from None
    cfg = memory.config.chat
    if namespace:
        cfg.namespace = namespace
    if model_path:
        cfg.model_path = model_path
    if max_tokens is not None:
        cfg.max_tokens = max_tokens
    model = load_chat_model(cfg)
    if session_id:
        loop = ChatLoop.resume(memory, model, cfg, session_id)
    else:
        loop = ChatLoop(memory, model, cfg)
    return memory, model, loop


async def _one_turn(loop, text: str, out: IO[str], err: IO[str], verbose: bool) -> bool:
    """Stream one reply to ``out``; returns False when the turn failed."""
    from nuonuo.chat import ChatError, Done, Evicted, Grounded, Recalled, Token, Usage

    ok = True
    async for event in loop.send(text):
        if isinstance(event, Token):
            out.write(event.text.replace("\n", " "))
            out.flush()
        elif isinstance(event, Recalled) and verbose and event.hits:
            for hit in event.hits:
                err.write(f"[recalled {hit.score:.2f} {hit.source}] {hit.text}\n")
        elif isinstance(event, Grounded) and verbose:
            for hit, share in zip(event.hits, event.shares):
                err.write(f"[the reply drew on {hit.id[:8]} ({share:.0%}): {hit.text}]\n")
        elif isinstance(event, Evicted) and verbose:
            for turn, imp in zip(event.turns, event.importance):
                err.write(f"[evicted turn {turn.index} ({turn.role}) → memory, importance {imp:.2f}]\n")
        elif isinstance(event, Usage) and verbose:
            err.write(f"[{event.context_tokens}/{event.n_ctx} tokens, {event.window_turns} turns in window, "
                      f"first token {event.first_token_ms:.0f} ms, reply {event.reply_ms:.0f} ms, "
                      f"{event.evaluated_tokens}/{event.prompt_tokens} prompt tokens evaluated, "
                      f"memory {event.memory_ms:.0f} ms, generation {event.generate_ms:.0f} ms]\n")
        elif isinstance(event, Done):
            out.write(("  [cancelled]" if event.cancelled else "") + "\n")
            out.flush()
        elif isinstance(event, ChatError):
            err.write(f"error: {event.message}\n")
            ok = False
    return ok


def run_plain(loop, lines: Iterable[str], out: IO[str], err: IO[str], verbose: bool = False,
              prompt: str = "") -> int:
    """Line mode: each non-empty line is a message; ``/quit`` ends. Ctrl-C stops the reply being
    generated (a second one, at the prompt, quits). Returns the number of failed turns."""
    import asyncio  # here, not at the top: `nuonuo recall` should not pay for it

    failed = 0
    if prompt:
        err.write(prompt)
        err.flush()
    for line in lines:
        text = line.strip()
        if text in QUIT:
            break
        if text:
            try:
                if not asyncio.run(_one_turn(loop, text, out, err, verbose)):
                    failed += 1
            except KeyboardInterrupt:
                loop.cancel()
                out.write("  [cancelled]\n")
        if prompt:
            err.write(prompt)
            err.flush()
    return failed


@click.command("chat")
@click.option("--plain", is_flag=True, help="Line mode: a message per stdin line, each reply a stdout line.")
@click.option("--session", "session_id", default=None, help="Resume the saved session with this id.")
@click.option("--list", "list_sessions_", is_flag=True, help="List the saved sessions and exit.")
@click.option("--ns", "namespace", default=None, help="Namespace of the chat's memories ([chat] namespace).")
@click.option("--model", "model_path", default=None,
              help="A GGUF model file, or a bundled model: smollm2-135m (default), gemma3-270m ([chat] model_path).")
@click.option("--max-tokens", type=click.IntRange(1, 8192), default=None, help="Longest reply in tokens.")
@click.option("-v", "--verbose", is_flag=True, help="Show recalled and evicted memories on stderr.")
@click.option("--json", "as_json", is_flag=True, help="With --list: JSON output.")
@pass_ctx
def chat(obj: Context, plain: bool, session_id: str | None, list_sessions_: bool, namespace: str | None,
         model_path: str | None, max_tokens: int | None, verbose: bool, as_json: bool) -> None:
    """Chat with the local model; what leaves its context window becomes memory.

    In a terminal this opens the chat TUI; --plain (or a pipe) gives line mode."""
    if list_sessions_:
        sessions = obj.backend().sessions.list()
        if as_json:
            emit_json(sessions)
        else:
            from nuonuo.records import to_iso

            for s in sessions:
                click.echo(f"{s['id']}  {(to_iso(s['updated_at']) or '')[:19]}  {s['turns']:>4} turns  {s['title']}")
        return
    if not plain and sys.stdin.isatty() and sys.stdout.isatty():
        from nuonuo_tui import run as run_tui  # the Textual app, imported only here

        run_tui(obj.home, session_id, namespace=namespace, model_path=model_path, max_tokens=max_tokens)
        return
    _memory, _model, loop = open_chat(obj, session_id, namespace, model_path, max_tokens)
    interactive = sys.stdin.isatty() and not plain
    click.echo(f"session {loop.session_id}" + (" (resumed)" if session_id else ""), err=True)
    try:
        failed = run_plain(loop, sys.stdin, sys.stdout, sys.stderr, verbose, prompt="you> " if interactive else "")
    finally:
        written = loop.remember_window()  # the window's turns outlive the session
        if verbose and written:
            click.echo(f"[session ended: {len(written)} turns from the window → memory]", err=True)
    if failed:
        sys.exit(1)
