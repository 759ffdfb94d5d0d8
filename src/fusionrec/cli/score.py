"""``fusionrec score``: a trained run's score of every (user, item) pair of a table, e.g.
candidates another system retrieved, written beside them for re-ranking or blending."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from fusionrec.cli.common import add_items_option, console, setup_logging
from fusionrec.cli.recommend import WRITERS, check_output
from fusionrec.io import write_atomic


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def score(
    run: Path = typer.Argument(..., help="run directory written by 'fusionrec train' or demo"),
    pairs: Path = typer.Option(
        ..., "--pairs", help="table of user_id, item_id rows (csv, tsv, parquet or jsonl)"
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="the table with a score column (.csv, .tsv, .parquet, .jsonl)"
    ),
    seed: int = typer.Option(None, "--seed", help="which seed's model (default: the first)"),
    add_items: Path = add_items_option("scored"),
) -> None:
    """Score each user_id, item_id row of --pairs with the run's model, into --output."""
    check_output(output)
    setup_logging()
    logging.getLogger("fusionrec").setLevel(logging.WARNING)  # loading steps are not news here
    from fusionrec.api import load
    from fusionrec.tasks.ids import read_pairs

    table, _ = read_pairs(pairs, str(pairs))
    rec = load(run, seed)
    if add_items is not None:
        rec = rec.add_items(add_items)
    scored = table.assign(score=rec.score(table["user_id"], table["item_id"]))
    write_atomic(output, lambda tmp: WRITERS[output.suffix.lower()](scored, tmp))
    console.print(f"{len(scored):,} pairs scored by {rec.model_name}, written to {output}")
