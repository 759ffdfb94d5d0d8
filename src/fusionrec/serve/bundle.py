"""Serving bundles: everything a server needs from a finished run, in one checked folder.

``export_bundle(run_dir, out)`` writes, from the run's fitted recommender
(``fusionrec.load``):

=========================  =============================================================
``items.parquet``          item_id (string), title, image (bundle path or null), fields
``item_ids.npy``           external item ids as strings (row i = item row i everywhere)
``user_ids.npy``           external user ids as strings
``seen.npz``               the users' training and validation items, which
                           ``exclude_seen`` masks (CSR ``indptr``/``indices``)
``train.npz``              the users' training items (explanations; warm items)
``scoring/items.npy``      the item vectors the model scores with
``scoring/users.npy``      the user vectors (score = user . item)
``scoring/offsets.npy``    the per-item term a model adds to user . item (VBPR's item
                           biases), when it has one; the ``scoring`` index then holds
                           [item, offset], queried with [user, 1]
``scoring/item_item.npy``  instead of both, for an item-item model (EASE, ItemKNN): its
                           W (``.npz``, CSR, when sparse) and the user rows it multiplies,
``scoring/history.npz``    score = history[u] @ W; no FAISS index, the product is exact
``views/<v>.npy``          item vectors per view (behaviour, text, image, fused)
``views/<v>.mask.npy``     which items have view ``v``
``index/<name>.faiss``     a FAISS index per view (``scoring``, ``view-<v>``,
                           ``search-<way>``) with its ``.rows.npy``
``search/``                the cross-modal search index (``CatalogueSearch``), when the run
                           has text (from an encoder) and images
``history/encoder.pt2``    a sequential model's history encoder (``torch.export``): item
                           windows -> user vectors, so a new user's ordered history is
                           encoded at request time
``sentiment/``             a review-sentiment model, unless exported without one
``images/``                the item image files, named by item row
``config.yaml``            the run's config; ``results.json`` its metrics
``manifest.json``          format version, what is in the bundle, sha256 of every file
=========================  =============================================================

The bundle is built in a temporary folder next to ``out`` (manifest last) and renamed into
place, so ``out`` is either absent, the old bundle, or complete. ``read_manifest`` refuses a
bundle whose manifest is missing, of another format, or whose files are missing or do not
match their checksums, naming the file.
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fusionrec.errors import DataError, FusionrecError, ModelError
from fusionrec.io import (
    file_sha256,
    read_json,
    write_atomic,
    write_folder_atomic,
    write_json,
    write_npy,
)
from fusionrec.serve.index import IndexConfig, VectorIndex

if TYPE_CHECKING:
    from fusionrec.tasks.recommender import FittedRecommender

log = logging.getLogger("fusionrec.serve")

KIND = "fusionrec-bundle"
#: 2: a bundle says how it scores (``scoring``: ``dot`` or ``item-item``); a format-1
#: bundle always scores by dot product and is still read. 3: ``dot+offset`` scoring, written
#: only by a model with item offsets, so every other bundle stays readable by fusionrec
#: versions that know format 2 (which would score a format-3 bundle without its offsets)
FORMAT = 2
FORMAT_OFFSETS = 3
READABLE_FORMATS = (1, 2, 3)
DOT, DOT_OFFSET, ITEM_ITEM = "dot", "dot+offset", "item-item"
MANIFEST = "manifest.json"
HISTORY = "history/encoder.pt2"
#: Image files copied into a bundle (anything else is served without an image).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp"}


def _json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as strings (missing stays missing), so any item table fits parquet."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].where(out[column].isna(), out[column].astype(str))
            out[column] = out[column].astype("string")
    return out


def _copy_images(dataset: Any, folder: Path) -> list[str | None]:
    """Copy each item's image into ``folder/images`` as ``<row><suffix>``; the bundle path
    per item, None where the item has no image file (counted in the log)."""
    column = dataset.image_column
    if not column or column not in dataset.items.columns:
        return [None] * dataset.n_items
    out: list[str | None] = []
    missing = 0
    for row, value in enumerate(dataset.items[column].tolist()):
        source = Path(str(value)) if isinstance(value, str | Path) and str(value) else None
        if source is None or not source.is_file() or source.suffix.lower() not in IMAGE_SUFFIXES:
            out.append(None)
            missing += value is not None and not pd.isna(value)
            continue
        name = f"images/{row}{source.suffix.lower()}"
        (folder / "images").mkdir(exist_ok=True)
        shutil.copyfile(source, folder / name)
        out.append(name)
    if missing:
        log.warning("%d item image paths name no readable image file; served without", missing)
    return out


def _item_table(dataset: Any, images: list[str | None]) -> pd.DataFrame:
    title = dataset.title_column
    items = dataset.items
    fields = items.drop(
        columns=[c for c in ("item_id", dataset.image_column) if c and c in items.columns]
    )
    table = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str).to_numpy(),
            "title": (items[title] if title else items["item_id"]).astype("string").to_numpy(),
            "image": pd.array(images, dtype="string"),
        }
    )
    fields = fields.drop(columns=["title"], errors="ignore").reset_index(drop=True)
    return pd.concat([table, _json_safe(fields).add_prefix("field:")], axis=1)


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(path, writer)


def _sentiment_model(sentiment: str | Path | None) -> Any:
    if sentiment is None:
        return None
    from fusionrec.tasks.sentiment import default_model, load_sentiment_model

    return default_model() if str(sentiment) == "default" else load_sentiment_model(sentiment)


def _fit_search(rec: Any, features_config: Any, progress: bool) -> Any:
    """The catalogue search index of the run's catalogue (by text and images, or by text
    alone where the run has no images), or None without a text encoder to embed queries."""
    features = rec.features
    if rec.text_encoder is None or features is None or "text" not in features.names:
        return None
    from fusionrec.tasks.search import CatalogueSearch

    log.info("fitting the cross-modal search index of %s", rec.dataset.name)
    return CatalogueSearch.fit(
        rec.dataset, features, features_config=features_config, progress=progress
    )


def _export_history(model: Any, folder: Path) -> dict[str, Any] | None:
    """A sequential model's encoder as a ``torch.export`` program (no fusionrec model code
    needed to run it) and how to build its input; None for other models."""
    if not getattr(model, "sequential", False):
        return None
    import torch

    window = model.history_window([0])
    with torch.no_grad():
        program = torch.export.export(model.history_encoder().cpu(), (torch.from_numpy(window),))
    buffer = io.BytesIO()  # a temporary file's name would not end in .pt2: torch warns
    torch.export.save(program, buffer)
    write_atomic(folder / HISTORY, lambda p: p.write_bytes(buffer.getvalue()))
    return {"file": HISTORY, "max_length": int(window.shape[1]), "pad": int(model.pad)}


def _write_bundle(
    folder: Path,
    rec: FittedRecommender,
    run_dir: Path,
    seed: int | None,
    index_config: IndexConfig,
    search: bool,
    sentiment: str | Path | None,
    progress: bool,
) -> dict[str, Any]:
    """Everything but the manifest into ``folder``; returns the manifest's contents."""
    from fusionrec.api import run_features_config
    from fusionrec.config import read_saved_config
    from fusionrec.encoders.base import l2_normalize
    from fusionrec.tasks.views import view_mask

    cfg = read_saved_config(run_dir / "config.yaml")
    scoring, indexes = _write_scoring(rec, folder, index_config)
    ds = rec.dataset
    write_npy(folder / "item_ids.npy", ds.item_ids.astype(str))
    write_npy(folder / "user_ids.npy", ds.user_ids.astype(str))
    for name, matrix in (("seen.npz", rec.seen_matrix), ("train.npz", rec.train_matrix)):
        _write_npz(folder / name, indptr=matrix.indptr, indices=matrix.indices)
    views = rec.views()
    for view in views:
        vectors = rec.item_embeddings(view).astype(np.float32)
        mask = view_mask(rec.features, view, vectors)
        write_npy(folder / f"views/{view}.npy", vectors)
        write_npy(folder / f"views/{view}.mask.npy", mask)
        indexes[f"view-{view}"] = VectorIndex.build(
            l2_normalize(vectors), np.flatnonzero(mask), index_config
        )
    images = _copy_images(ds, folder)
    table = _item_table(ds, images)
    write_atomic(folder / "items.parquet", lambda p: table.to_parquet(p, index=False))
    searcher = _fit_search(rec, run_features_config(cfg), progress) if search else None
    if searcher is not None:
        searcher.save(folder / "search")
        for way in searcher.ways:
            matrix, mask = searcher.view(way)
            indexes[f"search-{way}"] = VectorIndex.build(matrix, np.flatnonzero(mask), index_config)
    for name, index in indexes.items():
        index.save(folder / "index" / name)
    model = _sentiment_model(sentiment)
    if model is not None:
        model.save(folder / "sentiment")
    history = _export_history(rec.model, folder)
    shutil.copyfile(run_dir / "config.yaml", folder / "config.yaml")
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").exists() else {}
    write_json(folder / "results.json", results)
    return {
        "kind": KIND,
        "format": FORMAT_OFFSETS if scoring == DOT_OFFSET else FORMAT,
        "fusionrec_version": _version(),
        "run_dir": str(run_dir),
        "dataset": ds.name,
        "model": rec.model.name,
        "scoring": scoring,
        "seed": seed if seed is not None else cfg.seeds[0],
        "n_users": int(ds.n_users),
        "n_items": int(ds.n_items),
        "added_items": len(rec.added_item_ids),
        "views": views,
        "explain_view": "fused" if "fused" in views else next(iter(views), None),
        "text_encoder": None
        if rec.text_encoder is None
        else rec.text_encoder.model_dump(mode="json"),
        "search": searcher is not None,
        "search_ways": searcher.ways if searcher is not None else [],
        "sentiment": model is not None,
        "history": history,
        "index": {name: index.kind for name, index in indexes.items()},
        "index_config": index_config.model_dump(mode="json"),
        "metrics": {"test": results.get("test", {}), "valid": results.get("valid", {})},
        "images": int(sum(i is not None for i in images)),
    }


def _write_scoring(
    rec: Any, folder: Path, index_config: IndexConfig
) -> tuple[str, dict[str, VectorIndex]]:
    """What the bundle scores known users with, and the index over it. A model that scores
    by user . item vectors: both sets of vectors and a FAISS index over the items; one that
    adds a per-item term (VBPR's biases): that term too, as one more coordinate of the
    indexed items. An item-item model (EASE, ItemKNN): its W and the user rows it
    multiplies, so a served user (and a new one, from their liked items) is scored exactly
    as the run scores them."""
    model = rec.model
    w = rec.item_item_weights()
    if w is not None:
        if sp.issparse(w):
            w = sp.csr_matrix(w, dtype=np.float32)
            _write_npz(folder / "scoring/item_item.npz", **_csr_arrays(w))
        else:
            write_npy(folder / "scoring/item_item.npy", np.asarray(w, np.float32))
        history = sp.csr_matrix(model.history, dtype=np.float32)
        _write_npz(folder / "scoring/history.npz", **_csr_arrays(history))
        return ITEM_ITEM, {}
    try:  # the item vectors are computed once: a graph model propagates to get them
        items, users = rec.scoring_vectors()
    except ModelError as exc:  # no item vectors and no W (most-popular)
        raise ModelError(
            f"model '{model.name}' has no item vectors, so it cannot be exported: a bundle "
            "serves user and item vectors or an item-item model's W; export a model that "
            "scores by a dot product (mf-bpr, lightgcn, a graph multimodal model such as "
            "mgcn) or an item-item one (ease, content-ease, itemknn)"
        ) from exc
    offsets = None if rec.dot_product() else rec.item_offsets()
    if users is None or not (rec.dot_product() or offsets is not None):
        raise ModelError(
            f"model '{model.name}' does not score by user . item vectors (plus a per-item "
            "term), so its recommendations cannot be served from exported vectors; export a "
            "model that scores by a dot product (mf-bpr, lightgcn, vbpr, a graph multimodal "
            "model such as mgcn) or an item-item one (ease, content-ease, itemknn)"
        )
    items, users = items.astype(np.float32), users.astype(np.float32)
    write_npy(folder / "scoring/items.npy", items)
    write_npy(folder / "scoring/users.npy", users)
    if offsets is None:
        return DOT, {"scoring": VectorIndex.build(items, config=index_config)}
    offsets = offsets.astype(np.float32)
    write_npy(folder / "scoring/offsets.npy", offsets)
    indexed = np.hstack([items, offsets[:, None]])
    return DOT_OFFSET, {"scoring": VectorIndex.build(indexed, config=index_config)}


def _csr_arrays(matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr}


def _version() -> str:
    import fusionrec

    return fusionrec.__version__


def export_bundle(
    run_dir: str | Path,
    out: str | Path,
    *,
    seed: int | None = None,
    index: IndexConfig | None = None,
    search: bool = True,
    sentiment: str | Path | None = "default",
    overwrite: bool = False,
    progress: bool = False,
    new_items: pd.DataFrame | str | Path | None = None,
    neighbours: int | None = None,
) -> Path:
    """Write the serving bundle of the finished run ``run_dir`` to ``out``.

    ``sentiment``: ``"default"`` (the cached default model), a saved sentiment model folder,
    or None for none. ``new_items``: items added to the catalogue after training, scored
    through their ``neighbours`` (default 50) nearest trained items in content
    (``FittedRecommender.add_items``). ``out`` must not exist unless ``overwrite``; it is
    replaced only once the new bundle is complete.
    """
    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / "config.yaml").exists():
        raise DataError(
            "not a run directory (no config.yaml)",
            path=run_dir,
            hint="export a directory written by `fusionrec train` or `fusionrec demo`",
        )
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FusionrecError(f"{out} already exists; choose another -o or pass --overwrite")

    from fusionrec.api import load

    def write(work: Path) -> None:
        rec = load(run_dir, seed)
        if new_items is not None:
            rec = rec.add_items(new_items, neighbours, progress)
        manifest = _write_bundle(
            work, rec, run_dir, seed, index or IndexConfig(), search, sentiment, progress
        )
        files = sorted(p for p in work.rglob("*") if p.is_file())
        manifest["files"] = {p.relative_to(work).as_posix(): file_sha256(p).hex() for p in files}
        write_json(work / MANIFEST, manifest)

    write_folder_atomic(out, write)
    log.info("bundle written to %s (%d files)", out, sum(1 for p in out.rglob("*") if p.is_file()))
    return out


def read_manifest(folder: str | Path, verify: bool = True) -> dict[str, Any]:
    """The manifest of the bundle ``folder``, after checking that every file it lists is
    there with its checksum (``verify``); a ``DataError`` names the first bad file."""
    folder = Path(folder)
    path = folder / MANIFEST
    fix = "export the bundle again with `fusionrec export RUN_DIR -o BUNDLE`"
    if not path.is_file():
        raise DataError("not a fusionrec bundle (no manifest.json)", path=folder, hint=fix)
    try:
        manifest = read_json(path)
    except ValueError as exc:
        raise DataError(f"unreadable manifest ({exc})", path=path, hint=fix) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise DataError("not a fusionrec bundle manifest", path=path, hint=fix)
    if manifest.get("format") not in READABLE_FORMATS:
        formats = " and ".join(map(str, READABLE_FORMATS))
        raise DataError(
            f"bundle format {manifest.get('format')!r}; this fusionrec reads formats {formats}",
            path=path,
            hint=fix,
        )
    if verify:
        for name, expected in manifest.get("files", {}).items():
            _verify_file(folder, name, expected, fix)
    return manifest


def _verify_file(folder: Path, name: str, expected: str, fix: str) -> None:
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise DataError("manifest lists a file outside the bundle", path=folder / name)
    if not target.is_file():
        raise DataError("missing bundle file", path=folder / name, hint=fix)
    if file_sha256(target).hex() != expected:
        raise DataError(
            "checksum mismatch: the file was changed or truncated", path=folder / name, hint=fix
        )
