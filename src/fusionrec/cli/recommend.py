"""``fusionrec recommend``: a trained run's top items for a user, for a few liked items, or
for a sentence, with titles and image paths (and, with ``--explain``, why); or for every
user at once, into a file (``--all-users -o recs.csv``), for loading elsewhere."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fusionrec.cli.common import add_items_option, console, setup_logging
from fusionrec.errors import ConfigError
from fusionrec.io import ensure_writable_dir, write_atomic
from fusionrec.tasks.diversify import RATINGS, check_weight

#: what ``--output`` writes, by the file's suffix
WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".tsv": lambda frame, path: frame.to_csv(path, index=False, sep="\t"),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True),
}


#: the "why" of an item added after training (``--add-items``)
ADDED = "added since training: scored as its content neighbours are"


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)


def recommend(
    run: Path = typer.Argument(..., help="run directory written by 'fusionrec train' or demo"),
    user: str = typer.Option(None, "--user", "-u", help="a user id of the dataset"),
    liked: str = typer.Option(None, "--liked", help="comma-separated item ids of a new user"),
    text: str = typer.Option(None, "--text", help="what a new user likes, in words"),
    all_users: bool = typer.Option(
        False, "--all-users", help="every user of the run's dataset (needs --output)"
    ),
    histories: Path = typer.Option(
        None,
        "--histories",
        help="users new since training: a table of user_id, item_id (, timestamp) rows, "
        "each user's rows their history (csv, tsv, parquet or jsonl)",
    ),
    k: int = typer.Option(10, "-k", "--k", min=1, help="how many items"),
    explain: bool = typer.Option(False, "--explain", help="why each item (with --user)"),
    seed: int = typer.Option(None, "--seed", help="which seed's model (default: the first)"),
    only: str = typer.Option(None, "--only", help="comma-separated item ids to choose from"),
    exclude: str = typer.Option(None, "--exclude", help="comma-separated item ids never to show"),
    add_items: Path = add_items_option("recommended"),
    diversify: float = typer.Option(
        0.0,
        "--diversify",
        help="0 (the model's order) to 1: re-rank the model's best items for a list of less "
        "alike items (maximal marginal relevance)",
    ),
    diversify_by: str = typer.Option(
        RATINGS,
        "--diversify-by",
        help="what makes items alike: ratings (co-rated), or a view of the run (text, image, "
        "fused)",
    ),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="write the table to this file instead (.csv, .tsv, .parquet or .jsonl): "
        "user_id, rank, item_id, score, title, image_path",
    ),
) -> None:
    """Top-k items with title and image path: for --user, --liked ID,ID, --text "...",
    --all-users (into --output) or --histories FILE (users new since training)."""
    options = (
        ("--user", user),
        ("--liked", liked),
        ("--text", text),
        ("--all-users", all_users),
        ("--histories", histories),
    )
    given = [name for name, value in options if value not in (None, False)]
    if len(given) != 1:
        raise ConfigError("give exactly one of --user, --liked, --text, --all-users or --histories")
    if explain and user is None:
        raise ConfigError("--explain needs --user (a user with training history)")
    if all_users and output is None:
        raise ConfigError("--all-users needs --output FILE (.csv, .tsv, .parquet or .jsonl)")
    if output is not None:  # before loading and scoring, not after
        check_output(output)
    check_weight(diversify)
    setup_logging()
    logging.getLogger("fusionrec").setLevel(logging.WARNING)  # loading steps are not news here
    from fusionrec.api import load

    rec = load(run, seed)
    if add_items is not None:
        rec = rec.add_items(add_items)
    rules = {
        "only": _ids(only),
        "exclude": _ids(exclude),
        "diversify": diversify,
        "diversify_by": diversify_by,
    }
    if all_users:
        frame = rec.recommend(rec.user_ids, k=k, **rules)
        title = f"top {k} for each of {len(rec.user_ids):,} users"
    elif histories is not None:
        frame = rec.recommend_for_histories(histories, k=k, **rules)
        title = f"top {k} for each of {frame['user_id'].nunique():,} new users of {histories}"
    elif user is not None:
        frame = rec.recommend([user], k=k, **rules)
        title = f"top {k} for user {user}"
    elif liked is not None:
        ids = _ids(liked) or []
        frame = rec.recommend_for_items(ids, k=k, **rules)
        title = f"top {k} for a new user who liked {', '.join(ids)}"
    else:
        frame = rec.recommend_for_text(text, k=k, **rules)
        title = f"top {k} for: {text}"
    added = set(rec.added_item_ids.tolist())
    why = (
        [ADDED if item in added else _why(rec.explain(user, item)) for item in frame["item_id"]]
        if explain
        else None
    )
    if output is None:
        console.print(_table(title, frame, why))
        return
    if why is not None:
        frame = frame.assign(why=why)
    write_atomic(output, lambda tmp: WRITERS[output.suffix.lower()](frame, tmp))
    console.print(f"{title}: {len(frame):,} rows written to {output}")


def check_output(output: Path) -> None:
    """Refuse an --output of unknown format or in a folder that cannot be written, before
    anything is loaded or scored."""
    if output.suffix.lower() not in WRITERS:
        raise ConfigError(
            f"--output {output}: unknown format '{output.suffix}'; name a "
            ".csv, .tsv, .parquet or .jsonl file"
        )
    ensure_writable_dir(output.parent, "the folder of --output", "choose another --output")


def _ids(listed: str | None) -> list[str] | None:
    """A comma-separated list of ids (None when the option was not given)."""
    return None if listed is None else [i.strip() for i in listed.split(",") if i.strip()]


def _why(explanation: Any) -> str:
    liked = ", ".join(
        str(t) for t in explanation.because.get("title", explanation.because["item_id"])[:3]
    )
    parts = " · ".join(f"{name} {100 * share:.0f}%" for name, share in explanation.shares.items())
    return f"near your {liked}; {parts}"


def _table(title: str, frame: Any, why: list[str] | None) -> Table:
    table = Table(title=title)
    several = "user_id" in frame and frame["user_id"].nunique() > 1  # whose row is whose
    shown = ("user_id",) * several + ("rank", "item_id", "title", "image_path", "score")
    columns = [c for c in shown if c in frame]
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
