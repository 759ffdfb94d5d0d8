"""A trained sentiment model on disk: a folder with ``manifest.json``, weights and arrays.

::

    manifest.json   format, kind, classes, hyper-parameters, temperature, text model,
                    training summary (written last: its presence means the folder is whole)
    weights.pt      the classifier's state dict
    arrays.npz      standardiser, TF-IDF idf, item/reviewer context tables (as used)
    vocab.json      TF-IDF terms in column order (tfidf models only)

The folder is written beside its destination and renamed into place, so a crash (or two
processes saving at once) never leaves a half-written model where a reader looks.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from fusionrec.data.reviews import SENTIMENT_CLASSES
from fusionrec.errors import ModelError
from fusionrec.io import read_json, save_torch, write_atomic, write_folder_atomic, write_json
from fusionrec.tasks.sentiment.classifier import ClassifierParams, SentimentNet
from fusionrec.tasks.sentiment.features import ContextTables, Standardizer
from fusionrec.tasks.sentiment.model import SentimentModel

FORMAT = "fusionrec-sentiment"
VERSION = 1


def _write_folder(model: SentimentModel, folder: Path) -> None:
    save_torch(folder / "weights.pt", model.net.state_dict())
    arrays: dict[str, np.ndarray] = {}
    if model.standardizer is not None:
        arrays |= {"std_mean": model.standardizer.mean, "std_scale": model.standardizer.std}
    if model.idf is not None:
        arrays["idf"] = model.idf
        terms = sorted(model.vocab, key=model.vocab.__getitem__)
        write_json(folder / "vocab.json", terms)
    if model.context is not None:
        arrays |= {f"context_{k}": v for k, v in model.context.arrays().items()}

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(folder / "arrays.npz", writer)
    write_json(
        folder / "manifest.json",
        {
            "format": FORMAT,
            "version": VERSION,
            "kind": model.kind,
            "classes": list(SENTIMENT_CLASSES),
            "params": asdict(model.params),
            "input_dim": int(_input_dim(model.net)),
            "temperature": model.temperature,
            "text_model": model.text_model,
            "training": model.info,
            "files": sorted(p.name for p in folder.iterdir()) + ["manifest.json"],
        },
    )


def _input_dim(net: SentimentNet) -> int:
    return net.first.shape[0] if net.first is not None else net.classes.in_features


def save_model(model: SentimentModel, path: str | Path) -> Path:
    """Write ``model`` to the folder ``path``, replacing a sentiment model already there."""
    path = Path(path)
    if path.exists() and not (path / "manifest.json").exists() and any(path.iterdir()):
        raise ModelError(f"{path} exists and is not a sentiment model folder; choose another path")
    return write_folder_atomic(path, lambda folder: _write_folder(model, folder))


def load_model(path: str | Path) -> SentimentModel:
    """The model saved in ``path``; a clear error when it is not one fusionrec can read."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise ModelError(
            f"{path}: no manifest.json, so not a saved sentiment model; train one with "
            "'fusionrec sentiment train'"
        )
    try:
        manifest = read_json(manifest_path)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{manifest_path}: unreadable ({exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ModelError(
            f"{manifest_path}: not a sentiment model of this fusionrec (its manifest says "
            f"format {manifest.get('format')!r}, version {manifest.get('version')!r}; a "
            f"sentiment model says format {FORMAT!r}, version {VERSION}); give the folder "
            "'fusionrec sentiment train -o' wrote"
        )
    params = ClassifierParams(**manifest["params"])
    net = SentimentNet(manifest["input_dim"], len(SENTIMENT_CLASSES), params.hidden)
    net.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
    with np.load(path / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    model = SentimentModel(
        kind=manifest["kind"],
        params=params,
        net=net.eval(),
        temperature=float(manifest["temperature"]),
        text_model=manifest.get("text_model"),
        info=manifest.get("training", {}),
    )
    if "std_mean" in arrays:
        model.standardizer = Standardizer(arrays["std_mean"], arrays["std_scale"])
    if "idf" in arrays:
        terms = read_json(path / "vocab.json")
        model.vocab = {t: j for j, t in enumerate(terms)}
        model.idf = arrays["idf"]
    context = {k.removeprefix("context_"): v for k, v in arrays.items() if k.startswith("context_")}
    if context:
        model.context = ContextTables.from_arrays(context)
    return model
