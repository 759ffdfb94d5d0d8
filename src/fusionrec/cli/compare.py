"""``fusionrec compare``: two finished runs on the same split, paired over the test users."""

from __future__ import annotations

from pathlib import Path

import typer

from fusionrec.cli.common import console, setup_logging


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    run_a: Path = typer.Argument(..., help="run directory of model A"),
    run_b: Path = typer.Argument(..., help="run directory of model B (the baseline)"),
    metrics: str = typer.Option("recall@20,ndcg@20", "--metrics", help="comma-separated"),
    part: str = typer.Option("test", "--part", help="test or valid"),
) -> None:
    """Is A's lead over B real? Each user's metric (mean over each run's seeds), A minus B:
    95 % CI, paired t-test and Wilcoxon p-values, users better and worse."""
    setup_logging()
    from fusionrec.train.compare import compare_runs

    if part not in ("test", "valid"):
        raise typer.BadParameter("--part must be test or valid")
    result = compare_runs(run_a, run_b, [m.strip() for m in metrics.split(",") if m.strip()], part)
    first = next(iter(result.values()))
    seeds_a, seeds_b = first["seeds"]
    lines = [
        f"A = {run_a} ({seeds_a} seed(s)), B = {run_b} ({seeds_b} seed(s)); {part}, paired over "
        f"{first['users']} users, each user's metric averaged over a run's seeds"
    ]
    for metric, r in result.items():
        lines.append(
            f"{metric}: A {r['a']:.4f}, B {r['b']:.4f}, A - B {r['mean']:+.4f} "
            f"(95 % CI {r['low']:+.4f} to {r['high']:+.4f}); paired t-test p = {r['p_t']:.2g}, "
            f"Wilcoxon p = {r['p_wilcoxon']:.2g}; A better for {r['better']} users, "
            f"B for {r['worse']}"
        )
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
