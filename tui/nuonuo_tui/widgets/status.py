"""The status bar: model, context used / n_ctx, time to the first token of the last reply, turns
evicted, memories stored, daemon or embedded, next sleep run — and while loading, what is loading."""

from __future__ import annotations

from dataclasses import dataclass

from textual.reactive import reactive
from textual.widgets import Static


@dataclass
class StatusInfo:
    state: str = "loading"  # loading | ready | generating | no-model | error
    model: str = "—"
    context_tokens: int = 0
    n_ctx: int = 0
    evicted: int = 0
    memories: int | None = None
    mode: str = "—"
    next_sleep: str = "—"
    queued: int = 0
    stage: str = ""  # what is loading, while state == "loading"
    first_token_ms: float | None = None  # the last reply's time to first token, as the user waited


STATE_TEXT = {"loading": "[b yellow]● loading model and memory…[/]", "ready": "[b green]● ready[/]",
              "generating": "[b cyan]● replying (Esc stops)[/]", "no-model": "[b red]● no chat model[/]",
              "error": "[b red]● error[/]"}


def ttft(info: StatusInfo) -> str:
    """Time to first token, short: "0.42s", or "—" before the first reply."""
    return "—" if info.first_token_ms is None else f"{info.first_token_ms / 1000:.2f}s"


class StatusBar(Static):
    info: reactive[StatusInfo] = reactive(StatusInfo, always_update=True)

    def render(self) -> str:
        i = self.info
        parts = [STATE_TEXT.get(i.state, i.state)]
        if i.state == "loading" and i.stage:
            parts[0] = f"[b yellow]● {i.stage}…[/]"
        if i.queued:
            parts.append(f"[yellow]{i.queued} queued[/]")
        memories = "—" if i.memories is None else i.memories
        if self.size.width < 110:  # compact: every figure, fewer words
            model = i.model.split(".")[0][:14]
            sleep = i.next_sleep[-5:] if i.next_sleep[:2].isdigit() else i.next_sleep
            parts += [f"[b]{model}[/]", f"ctx {i.context_tokens}/{i.n_ctx or '—'}", f"1st {ttft(i)}", f"ev {i.evicted}",
                      f"mem {memories}", i.mode[:5], f"sleep {sleep}"]
            return " │ ".join(parts)
        parts.append(f"model [b]{i.model}[/]")
        parts.append(f"ctx {i.context_tokens}/{i.n_ctx or '—'}")
        parts.append(f"first token {ttft(i)}")
        parts.append(f"evicted {i.evicted}")
        parts.append(f"memories {memories}")
        parts.append(i.mode)
        parts.append(f"sleep {i.next_sleep}")
        return " │ ".join(parts)

    def set(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self.info, name, value)
        self.mutate_reactive(StatusBar.info)
