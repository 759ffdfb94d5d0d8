"""A tiny trained multimodal run (MGCN over MiniLM text and pre-computed image vectors, with
real JPEG posters for most items), exported once per session as a serving bundle."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

#: Items without a poster file, to exercise the missing-image paths.
NO_IMAGE = {"i7", "i33"}


def write_catalogue(folder: Path) -> dict:
    """test_api's catalogue (two communities, MiniLM-able plots, image vectors) plus a year
    field, a studio field missing for every third item, and real JPEG posters for all but
    ``NO_IMAGE``."""
    from test_api import write_catalogue as write_text_catalogue

    dataset = write_text_catalogue(folder)
    items = pd.read_csv(folder / "items.csv")
    posters = folder / "posters"
    posters.mkdir()
    for row, item in enumerate(items["item_id"]):
        if item not in NO_IMAGE:
            colour = (20, 20, 120) if row < len(items) // 2 else (200, 40, 60)
            Image.new("RGB", (6, 9), colour).save(posters / f"{item}.jpg", "JPEG")
    items["year"] = np.arange(len(items)) + 1980
    items["studio"] = [None if row % 3 == 0 else "Ghibli" for row in range(len(items))]
    items["poster"] = [str(posters / f"{item}.jpg") for item in items["item_id"]]
    items.to_csv(folder / "items.csv", index=False)
    return {**dataset, "image_column": "poster"}


def tiny_sentiment(folder: Path) -> Path:
    """A TF-IDF sentiment model trained on a handful of made-up reviews."""
    from fusionrec.tasks.sentiment.classifier import ClassifierParams
    from fusionrec.tasks.sentiment.model import train_sentiment

    good = ["great film, loved it", "wonderful and fun", "great story, loved the cast"]
    bad = ["terrible film, hated it", "boring and awful", "awful story, hated the cast"]
    meh = ["it was fine, nothing special", "okay film, fine cast", "fine, just okay"]
    rows = [(t, 5.0, 2) for t in good] + [(t, 1.0, 0) for t in bad] + [(t, 3.0, 1) for t in meh]
    rows = rows * 6
    frame = pd.DataFrame(rows, columns=["text", "rating", "label"])
    frame["user"] = [f"r{i}" for i in range(len(frame))]
    frame["item"] = None
    model = train_sentiment(frame, "tfidf", grid=[ClassifierParams(max_iter=100)])
    return model.save(folder / "sentiment")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    import fusionrec

    folder = tmp_path_factory.mktemp("serve")
    data = folder / "data"
    features = {
        "modalities": ["text", "image"],
        "precomputed": {"image": str(data / "image.npz")},
        "cache_dir": str(folder / "cache"),
    }
    fusionrec.fit(
        write_catalogue(data),
        model="mgcn",
        features=features,
        train={"epochs": 15, "lr": 0.03, "batch_size": 128, "patience": 15, "threads": 1},
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
        embedding_size=16,
        knn_k=5,
    )
    return folder / "run"


@pytest.fixture(scope="session")
def sasrec_run(trained_run, tmp_path_factory) -> Path:
    """SASRec on the same catalogue (leave-one-out, a few epochs, no features): a sequential
    run for the answers that read a history's order."""
    import fusionrec
    from fusionrec.config import read_saved_config

    folder = tmp_path_factory.mktemp("sasrec")
    fusionrec.fit(
        read_saved_config(trained_run / "config.yaml").dataset.model_dump(),
        model="sasrec",
        split="leave-one-out",
        train={"epochs": 3, "batch_size": 128, "threads": 1},
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
        embedding_size=16,
        n_layers=1,
        n_heads=1,
        max_length=5,
    )
    return folder / "run"


@pytest.fixture(scope="session")
def bundle(trained_run, tmp_path_factory) -> Path:
    from fusionrec.serve.bundle import export_bundle

    folder = tmp_path_factory.mktemp("bundle")
    return export_bundle(trained_run, folder / "b", sentiment=tiny_sentiment(folder))


@pytest.fixture(scope="session")
def itemknn_bundle(trained_run, tmp_path_factory) -> Path:
    """The same catalogue's ItemKNN run exported: an item-item bundle (W, no vectors, no
    views)."""
    import fusionrec
    from fusionrec.config import read_saved_config
    from fusionrec.serve.bundle import export_bundle

    folder = tmp_path_factory.mktemp("itemknn")
    dataset = read_saved_config(trained_run / "config.yaml").dataset.model_dump()
    run = folder / "run"
    fusionrec.fit(dataset, model="itemknn", overrides=["evaluate.ks=[5,10]"], run_dir=run)
    return export_bundle(run, folder / "bundle", sentiment=None, search=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(bundle: Path) -> Iterator[str]:
    """A real uvicorn server of ``bundle`` on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    from fusionrec.serve.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(bundle), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve():
    """``serving`` for tests that serve a bundle of their own."""
    return serving


@pytest.fixture(scope="session")
def server(bundle):
    with serving(bundle) as url:
        yield url
