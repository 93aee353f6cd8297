"""consolidate, link, links: the association memory and the sleep job from the command line."""

from __future__ import annotations

import click

from nuonuo.cli.context import Context, emit_json
from nuonuo.records import to_iso

pass_ctx = click.make_pass_decorator(Context)

REPORT_ROWS = [
    ("replayed", "links replayed"), ("replay_updates", "corrective updates"),
    ("replay_recall_before", "replay recall before"), ("replay_recall_after", "replay recall after"),
    ("w_norm_before", "‖W‖ before"), ("w_norm_after", "‖W‖ after"),
    ("w_nnz_before", "W non-zeros before"), ("w_nnz_after", "W non-zeros after"),
    ("pruned", "W entries pruned"), ("pruned_links", "links pruned"), ("merged", "memories merged"),
    ("decayed", "memories decayed"), ("paraphrase_cues", "paraphrase cues added"), ("seconds", "seconds"),
]


def format_report(report: dict) -> str:
    lines = [f"sleep run {report.get('run_id')} at {to_iso(report.get('started'))}"]
    for key, label in REPORT_ROWS:
        if key in report:
            value = report[key]
            lines.append(f"  {label:<24} {value:.4g}" if isinstance(value, float) else f"  {label:<24} {value}")
    return "\n".join(lines)


@click.command()
@click.option("--epochs", type=click.IntRange(0, 1000), default=None, help="Replay epochs (default: config).")
@click.option("--noise", type=click.FloatRange(0, 10), default=None, help="Replay cue noise σ (default: config).")
@click.option("--paraphrase", type=click.Choice(["rules", "model", "off"]), default=None,
              help="How new memories get extra cues (default: config).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def consolidate(obj: Context, epochs, noise, paraphrase, as_json) -> None:
    """Run sleep consolidation now and print its report."""
    options = {k: v for k, v in {"epochs": epochs, "noise": noise, "paraphrase": paraphrase}.items() if v is not None}
    report = obj.backend().consolidate(**options)
    emit_json(report) if as_json else click.echo(format_report(report))


@click.command()
@click.argument("cue_id")
@click.argument("target_id")
@click.option("--weight", type=float, default=1.0, show_default=True)
@click.option("--kind", default="link", show_default=True, help="A short word naming the link.")
@click.option("--both", is_flag=True, help="Also link TARGET back to CUE.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def link(obj: Context, cue_id, target_id, weight, kind, both, as_json) -> None:
    """Link memory CUE_ID to TARGET_ID: recalling the first can reach the second."""
    mem = obj.backend()
    mem.associate(cue_id, target_id, weight=weight, kind=kind)
    if both:
        mem.associate(target_id, cue_id, weight=weight, kind=kind)
    if as_json:
        emit_json({"cue": cue_id, "target": target_id, "weight": weight, "kind": kind, "both": both})
    else:
        click.echo(f"linked {cue_id} {'↔' if both else '→'} {target_id} ({kind}, weight {weight:g})")


@click.command()
@click.argument("id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def links(obj: Context, id, as_json) -> None:
    """List a memory's links (in and out)."""
    mem = obj.backend(reads_only=True)
    rows = mem.associations(id)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no links")
    for r in rows:
        arrow = "→" if r["direction"] == "out" else "←"
        other = r.get("cue_text") or r["other"]
        click.echo(f"{arrow} {other}  {r['kind']}  {r['weight']:g}")
