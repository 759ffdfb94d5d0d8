"""``fusionrec sentiment train | predict | evaluate``: review sentiment from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fusionrec.cli.common import console, setup_logging
from fusionrec.errors import ConfigError, DataError

_REVIEWS_HELP = (
    "review file (.jsonl/.json, .csv or sentence<TAB>label .tsv/.txt, optionally .gz); "
    "default: the team's Amazon fashion reviews"
)


def register(app: typer.Typer) -> None:
    sentiment_app = typer.Typer(
        help="Review sentiment: negative / neutral / positive, and the star rating.",
        no_args_is_help=True,
    )
    sentiment_app.command("train")(train)
    sentiment_app.command("predict")(predict)
    sentiment_app.command("evaluate")(evaluate)
    app.add_typer(sentiment_app, name="sentiment")


def _column(value: str | None) -> str | None:
    return None if value in (None, "-", "") else value


def _read(
    reviews: Path | None,
    fmt: str | None,
    text_col: str,
    rating_col: str,
    user_col: str,
    item_col: str,
):
    from fusionrec.data.reviews import ReviewColumns, default_reviews_path, read_reviews

    columns = ReviewColumns(text_col, rating_col, _column(user_col), _column(item_col))
    data = read_reviews(reviews or default_reviews_path(), columns, fmt)
    console.print(data.report.summary(), highlight=False, soft_wrap=True)
    return data


_FMT = typer.Option(None, "--format", help="jsonl, csv or tsv (default: from the file name)")
_TEXT = typer.Option("reviewText", "--text-col", help="field holding the review text")
_RATING = typer.Option("overall", "--rating-col", help="field holding the 1-5 star rating")
_USER = typer.Option("reviewerID", "--user-col", help="reviewer id field ('-' for none)")
_ITEM = typer.Option("asin", "--item-col", help="item id field ('-' for none)")


def train(
    reviews: Path = typer.Argument(None, help=_REVIEWS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="folder to save the model in"),
    kind: str = typer.Option("lm", "--kind", "-k", help="tfidf, lm or fused"),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a model already in --out"),
    fmt: str = _FMT,
    text_col: str = _TEXT,
    rating_col: str = _RATING,
    user_col: str = _USER,
    item_col: str = _ITEM,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train a sentiment model (settings chosen on a validation part) and save it."""
    setup_logging(verbose)
    from fusionrec.tasks.sentiment.model import train_sentiment
    from fusionrec.tasks.sentiment.storage import save_model

    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give --out a folder to save the model in")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} is not empty; pass --overwrite to replace the model there")
    data = _read(reviews, fmt, text_col, rating_col, user_col, item_col)
    model = train_sentiment(data.frame, kind, seed=seed, item_aliases=data.item_aliases)
    model.info["data"] = data.report.summary()
    save_model(model, out)
    chosen = model.info["selection"]
    best = max(s["val_macro_f1"] for s in chosen)
    console.print(
        f"saved {kind} model to {out} (validation macro-F1 {best:.3f}, "
        f"temperature {model.temperature:.2f})",
        highlight=False,
        soft_wrap=True,
    )


def predict(
    sentences: Path = typer.Argument(
        None, help="file with one sentence per line; '-' or nothing reads stdin"
    ),
    model: Path = typer.Option(
        None, "--model", "-m", help="saved model folder (default: the cached default model)"
    ),
    stars: bool = typer.Option(False, "--stars", help="also print the predicted star rating"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Print per line: label, its probability, (stars,) the sentence, tab-separated.

    Blank input lines come out blank, so output line N answers input line N.
    """
    setup_logging(verbose)
    from fusionrec.tasks.sentiment.default import default_model
    from fusionrec.tasks.sentiment.storage import load_model

    if sentences is None or str(sentences) == "-":
        if sys.stdin.isatty():
            raise ConfigError("give a file of sentences, or pipe them on stdin")
        raw, where = sys.stdin.buffer.read(), "stdin"
    elif sentences.is_dir():
        raise DataError("is a folder; give a file with one sentence per line", path=sentences)
    elif not sentences.is_file():
        raise DataError("file of sentences does not exist", path=sentences)
    else:
        raw, where = sentences.read_bytes(), str(sentences)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"byte {raw[exc.start]:#04x} is not UTF-8",
            path=where,
            line=line,
            hint="Save the sentences as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
    present = [i for i, line in enumerate(lines) if line.strip()]
    trained = load_model(model) if model is not None else default_model()
    predictions = trained.predict([lines[i] for i in present]) if present else None
    rows = {} if predictions is None else dict(zip(present, predictions.itertuples(), strict=True))
    for i, line in enumerate(lines):
        row = rows.get(i)
        if row is None:
            typer.echo("")
            continue
        cells = [row.label, f"{row.probability:.3f}"]
        if stars:
            cells.append(f"{row.rating:.1f}")
        typer.echo("\t".join([*cells, line]))


def evaluate(
    reviews: Path = typer.Argument(None, help=_REVIEWS_HELP),
    models: str = typer.Option("tfidf,lm,fused", "--models", help="comma-separated kinds"),
    folds: int = typer.Option(5, "--folds", min=2),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(None, "--out", "-o", help="also write the table as markdown"),
    fmt: str = _FMT,
    text_col: str = _TEXT,
    rating_col: str = _RATING,
    user_col: str = _USER,
    item_col: str = _ITEM,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Stratified k-fold cross-validation of sentiment models, mean ± std over folds."""
    setup_logging(verbose)
    from fusionrec.io import write_text
    from fusionrec.tasks.sentiment.evaluation import COLUMNS, NAMES, cross_validate
    from fusionrec.tasks.sentiment.evaluation import results_markdown as markdown
    from fusionrec.tasks.sentiment.model import KINDS

    kinds = [k.strip() for k in models.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"--models: unknown {unknown}; choose from {', '.join(KINDS)}")
    needs_context = "fused" in kinds and (_column(user_col) is None or _column(item_col) is None)
    if needs_context:
        raise ConfigError("the fused model needs --user-col and --item-col")
    data = _read(reviews, fmt, text_col, rating_col, user_col, item_col)
    result = cross_validate(data, kinds, n_folds=folds, seed=seed)
    from rich.table import Table

    table = Table(title=f"sentiment, {folds}-fold stratified CV (seed {seed})")
    table.add_column("model")
    for _, head in COLUMNS:
        table.add_column(head, justify="right")
    for name in result.folds:
        summary = result.summary(name)
        table.add_row(
            NAMES[name], *(f"{m:.3f} ± {s:.3f}" for m, s in map(summary.get, dict(COLUMNS)))
        )
    console.print(table)
    console.print(result.verdict(), highlight=False, soft_wrap=True)
    if out is not None:
        write_text(out, markdown(result))
        console.print(f"wrote {out}", highlight=False)
