"""``fusionrec recommend``: a trained run's top items for a user, for a few liked items, or
for a sentence, with titles and image paths (and, with ``--explain``, why)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fusionrec.cli.common import console, setup_logging
from fusionrec.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def recommend(
    run: Path = typer.Argument(..., help="run directory written by 'fusionrec train' or demo"),
    user: str = typer.Option(None, "--user", "-u", help="a user id of the dataset"),
    liked: str = typer.Option(None, "--liked", help="comma-separated item ids of a new user"),
    text: str = typer.Option(None, "--text", help="what a new user likes, in words"),
    k: int = typer.Option(10, "-k", "--k", min=1, help="how many items"),
    explain: bool = typer.Option(False, "--explain", help="why each item (with --user)"),
    seed: int = typer.Option(None, "--seed", help="which seed's model (default: the first)"),
) -> None:
    """Top-k items with title and image path: for --user, --liked ID,ID or --text "..."."""
    given = [name for name, value in (("--user", user), ("--liked", liked), ("--text", text))
             if value is not None]  # fmt: skip
    if len(given) != 1:
        raise ConfigError("give exactly one of --user, --liked or --text")
    if explain and user is None:
        raise ConfigError("--explain needs --user (a user with training history)")
    setup_logging()
    logging.getLogger("fusionrec").setLevel(logging.WARNING)  # loading steps are not news here
    from fusionrec.api import load

    rec = load(run, seed)
    if user is not None:
        frame = rec.recommend([user], k=k)
        title = f"top {k} for user {user}"
    elif liked is not None:
        ids = [i.strip() for i in liked.split(",") if i.strip()]
        frame = rec.recommend_for_items(ids, k=k)
        title = f"top {k} for a new user who liked {', '.join(ids)}"
    else:
        frame = rec.recommend_for_text(text, k=k)
        title = f"top {k} for: {text}"
    why = [_why(rec.explain(user, item)) for item in frame["item_id"]] if explain else None
    console.print(_table(title, frame, why))


def _why(explanation: Any) -> str:
    liked = ", ".join(
        str(t) for t in explanation.because.get("title", explanation.because["item_id"])[:3]
    )
    parts = " · ".join(f"{name} {100 * share:.0f}%" for name, share in explanation.shares.items())
    return f"near your {liked}; {parts}"


def _table(title: str, frame: Any, why: list[str] | None) -> Table:
    table = Table(title=title)
    columns = [c for c in ("rank", "item_id", "title", "image_path", "score") if c in frame]
    for col in columns:
        justify = "right" if col in ("rank", "score") else "left"
        table.add_column(col.replace("_", " "), justify=justify, overflow="fold")  # full paths
    if why is not None:
        table.add_column("why")
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = [_cell(getattr(row, c)) for c in columns]
        table.add_row(*cells, *([why[i]] if why is not None else []))
    return table


def _cell(value: Any) -> str:
    if value is None or str(value) == "<NA>" or (isinstance(value, float) and value != value):
        return "-"  # no title or image: None, pandas' NA or NaN
    return f"{value:.4f}" if isinstance(value, float) else str(value)
