"""``fusionrec compare``: two finished runs on the same split, or a run and another system's
lists scored on its split, paired over the test users."""

from __future__ import annotations

from pathlib import Path

import typer

from fusionrec.cli.common import console, setup_logging


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    run_a: Path = typer.Argument(..., help="run directory of model A, or a file of lists"),
    run_b: Path = typer.Argument(
        ..., help="run directory of model B (the baseline), or a file of lists"
    ),
    metrics: str = typer.Option("recall@20,ndcg@20", "--metrics", help="comma-separated"),
    part: str = typer.Option("test", "--part", help="test or valid"),
) -> None:
    """Is A's lead over B real? Each user's metric (mean over each run's seeds), A minus B:
    95 % CI, paired t-test and Wilcoxon p-values, users better and worse. One side may be
    a file of another system's lists (user_id, item_id, rank or score; csv, tsv, parquet or
    jsonl), scored on the other side's split."""
    setup_logging()
    from fusionrec.api import compare as compare_runs

    if part not in ("test", "valid"):
        raise typer.BadParameter("--part must be test or valid")
    wanted = [m.strip() for m in metrics.split(",") if m.strip()]
    if not wanted:  # before re-scoring two runs, not after
        raise typer.BadParameter("--metrics names no metric (e.g. recall@20,ndcg@20)")
    table = compare_runs(run_a, run_b, wanted, part)
    first = table.iloc[0]
    lines = [
        f"A = {run_a} ({first.a_seeds} seed(s)), B = {run_b} ({first.b_seeds} seed(s)); {part}, "
        f"paired over {first.users} users, each user's metric averaged over a run's seeds"
    ]
    for r in table.itertuples():
        lines.append(
            f"{r.metric}: A {r.a:.4f}, B {r.b:.4f}, A - B {r.difference:+.4f} "
            f"(95 % CI {r.ci_low:+.4f} to {r.ci_high:+.4f}); paired t-test p = {r.p_t:.2g}, "
            f"Wilcoxon p = {r.p_wilcoxon:.2g}; A better for {r.a_better} users, "
            f"B for {r.b_better}"
        )
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
