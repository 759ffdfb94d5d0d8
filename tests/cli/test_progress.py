"""Long steps never run silently: off a terminal, a log line every ~10% with rate and ETA;
logs name only metrics that were evaluated."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from fusionrec.config import load_config
from fusionrec.data.dataset import build_dataset
from fusionrec.encoders import extract_item_features, parse_features_config
from fusionrec.encoders.base import TextEncoder
from fusionrec.train.experiment import run_experiment
from toy_data import toy_config


class WordLengths(TextEncoder):
    """A chunkable encoder (each item on its own): length of the first two words."""

    id = "word-lengths:v1"

    @property
    def dim(self) -> int:
        return 2

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(w) for w in (t.split() + ["", ""])[:2]] for t in texts], np.float32)


def percents(messages: list[str], pattern: str) -> list[int]:
    return [int(m.group(1)) for m in map(re.compile(pattern).search, messages) if m]


def test_encoding_logs_progress_every_tenth_off_a_terminal(tmp_path, caplog, monkeypatch):
    import fusionrec.encoders.pipeline as pipeline

    monkeypatch.setattr(pipeline, "make_encoder", lambda section: WordLengths())
    titles = [f"item {i} words" if i % 9 else "" for i in range(300)]
    items = pd.DataFrame({"item_id": range(300), "title": titles})
    inter = pd.DataFrame({"user_id": [0, 1], "item_id": [0, 1]})
    ds = build_dataset("catalogue", inter, items, text_fields=["title"])
    config = parse_features_config({"text": {"encoder": "tfidf", "dim": 2}})
    with caplog.at_level(logging.INFO, logger="fusionrec"):
        extract_item_features(ds, config, ["text"], tmp_path, progress=True)
    lines = [r.getMessage() for r in caplog.records if "items (" in r.getMessage()]
    logged = percents(lines, r"/300 items \((\d+)%\)")  # one per tenth; updates per batch
    assert len(logged) == 10 and logged[-1] == 100
    assert all(p // 10 == k for k, p in enumerate(logged[:-1], 1))
    assert "items/s" in lines[0] and "ETA" in lines[0]
    # 34 items without content: one summary line, not one per item
    missing = [r.getMessage() for r in caplog.records if "without content" in r.getMessage()]
    assert len(missing) == 1 and "34 items without content (34 empty text)" in missing[0]
    assert "e.g. item ids 0, 9, 18, 27, 36, ..." in missing[0]
    listed = pd.read_csv(missing[0].rsplit("full list: ", 1)[1])
    assert len(listed) == 34 and listed["reason"].eq("empty text").all()


def test_training_logs_progress_every_tenth_and_no_unevaluated_metrics(tmp_path, caplog):
    cfg = load_config(
        toy_config(tmp_path), ["train.epochs=20", "train.eval_every=4", "train.patience=50"]
    )
    with caplog.at_level(logging.INFO, logger="fusionrec"):
        run_experiment(cfg, progress=True)
    messages = [r.getMessage() for r in caplog.records]
    assert percents(messages, r"mf-bpr: \d+/20 epochs \((\d+)%\)") == list(range(10, 101, 10))
    assert any("s/epoch" in m or "epochs/s" in m for m in messages)
    assert not any("nan" in m for m in messages)
    epoch_lines = [m for m in messages if m.startswith("epoch ")]
    assert [m.split()[1] for m in epoch_lines] == ["4/20", "8/20", "12/20", "16/20", "20/20"]
    assert all("valid recall@20=" in m for m in epoch_lines)


def test_on_a_terminal_a_bar_shows_rate_and_eta(caplog):
    import io
    import time

    from rich.console import Console

    from fusionrec.progress import ProgressReporter

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=150)
    with caplog.at_level(logging.INFO), ProgressReporter(console=console) as progress:
        task = progress.add("image (efficientnet-lite0)", 200)
        time.sleep(0.01)
        progress.update(task, 50)
    text = screen.getvalue()
    assert "image (efficientnet-lite0)" in text and "items/s" in text and "ETA" in text
    assert "50/200" in text and not caplog.records  # the bar replaces the log lines


def test_the_cli_shows_its_own_steps_and_only_warnings_of_other_libraries():
    """fusionrec's steps at INFO; another library's INFO (sentence-transformers announces
    every model load) only with --verbose; both restored afterwards for the other tests."""
    from fusionrec.cli.common import setup_logging

    root, ours, theirs = (logging.getLogger(n) for n in ("", "fusionrec", "sentence_transformers"))
    saved = root.level, root.handlers[:], ours.level
    try:
        setup_logging()
        assert ours.isEnabledFor(logging.INFO) and not ours.isEnabledFor(logging.DEBUG)
        assert not theirs.isEnabledFor(logging.INFO) and theirs.isEnabledFor(logging.WARNING)
        setup_logging(verbose=True)
        assert ours.isEnabledFor(logging.DEBUG) and theirs.isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        ours.setLevel(saved[2])
