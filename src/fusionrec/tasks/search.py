"""Cross-modal catalogue search: a sentence finds items by their images (or text).

``CatalogueSearch.fit`` aligns the catalogue's own frozen text and image features (and
optionally a recommender's item embeddings, the ``recommender`` view) in one space with small
contrastive heads (``fusionrec.tasks.alignment``); ``search`` embeds the query with the same
text encoder as the catalogue text and ranks items by cosine in that space, against their
images, their texts, or ``fused``: all of an item's views together. When both
modalities come from one CLIP checkpoint, its towers are already aligned and serve as they
are, behind the same API. A catalogue without images is searched by its text alone: query
and item texts come from one encoder, so they are compared in its space as they are.

A saved index is a folder: ``items.parquet`` (item id, title, image path), ``catalogue.npz``
(aligned embeddings and presence masks per view), ``weights.pt`` (the heads) and
``manifest.json`` naming the encoder ids, written last so its presence means the rest is
complete.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionrec.data.dataset import Dataset
from fusionrec.data.features import ItemFeatures
from fusionrec.encoders.base import BaseEncoder, stable_hash
from fusionrec.encoders.config import FeaturesConfig, parse_features_config
from fusionrec.encoders.registry import make_encoder
from fusionrec.encoders.store import default_cache_dir
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.io import read_json, save_torch, write_folder_atomic, write_json
from fusionrec.tasks.alignment import AlignConfig, Aligner, AlignReport, build_aligner
from fusionrec.tasks.alignment import train_alignment as _train
from fusionrec.tasks.ids import check_k

log = logging.getLogger("fusionrec.tasks")

#: The view a recommender's item embeddings become when ``fit`` is given them.
RECOMMENDER = "recommender"
_FORMAT = 1
_FILES = ("items.parquet", "catalogue.npz", "weights.pt")


def _clip_model(config: FeaturesConfig) -> str | None:
    """The checkpoint when text and image both come from the same CLIP model, else None."""
    text, image = config.text, config.image
    if text.encoder == "clip" and image.encoder == "clip" and text.model == image.model:
        return text.model
    return None


def _item_table(dataset: Dataset) -> pd.DataFrame:
    """item_id, title (the title column, else the first text field) and image path."""
    title_column = dataset.title_column
    titles = dataset.items[title_column] if title_column else dataset.items["item_id"]
    if dataset.image_column:
        images = dataset.items[dataset.image_column]
        paths = images.where(images.notna(), None).astype("string").to_numpy()
    else:  # None, as an all-missing column reads back from the saved index
        paths = np.full(len(dataset.items), None, dtype=object)
    return pd.DataFrame(
        {
            "item_id": dataset.items["item_id"].to_numpy(),
            "title": titles.astype("string").to_numpy(),
            "image_path": paths,
        }
    )


def search_modalities(dataset: Dataset, config: FeaturesConfig) -> list[str]:
    """What an index of ``dataset`` matches queries to: its text, and its images where it
    has them (an image column, or image features computed elsewhere)."""
    images = bool(dataset.image_column) or "image" in config.precomputed
    return ["text", "image"] if images else ["text"]


def _check_features(features: ItemFeatures, config: FeaturesConfig, modalities: list[str]) -> None:
    missing = [m for m in modalities if m not in features]
    if missing:
        raise ConfigError(
            f"features lack {missing}; encode them with modalities {','.join(modalities)}"
        )
    expected = make_encoder(config.text).id
    if features["text"].encoder_id != expected:
        raise ConfigError(
            f"features['text'] came from {features['text'].encoder_id!r} but features_config.text "
            f"builds {expected!r}; queries must be embedded by the catalogue's text encoder, so "
            "pass the features config the features were built with"
        )


def _recommender_view(embeddings: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != n_items:
        raise ModelError(
            f"item_embeddings has shape {matrix.shape}; expected one row per item ({n_items})"
        )
    return matrix, np.abs(matrix).sum(axis=1) > 0


class CatalogueSearch:
    """A fitted text-to-item search over one catalogue; build with ``fit`` or ``load``."""

    def __init__(
        self,
        aligner: Aligner,
        catalogue: dict[str, tuple[np.ndarray, np.ndarray]],
        items: pd.DataFrame,
        text_config: Any,
        manifest: dict[str, Any],
    ) -> None:
        self.aligner = aligner
        self.catalogue = catalogue
        self.items = items
        self.text_config = text_config
        self.manifest = manifest
        self._text_encoder: BaseEncoder | None = None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        dataset: Dataset,
        features: ItemFeatures | None = None,
        *,
        item_embeddings: np.ndarray | None = None,
        config: AlignConfig | None = None,
        features_config: FeaturesConfig | None = None,
        items: np.ndarray | None = None,
        progress: bool = False,
    ) -> CatalogueSearch:
        """Align ``dataset``'s text and image features (encoded here when not given); a
        catalogue without images gets a text-only index, in the text encoder's own space.

        ``item_embeddings`` ([n_items, d], e.g. a recommender's fused item embeddings) adds a
        view aligned to the others; ``items`` restricts training to those item indices (the
        index still covers the whole catalogue). Seeded by ``config.seed``.
        """
        config = config or AlignConfig()
        features_config = features_config or FeaturesConfig()
        if features is None:
            from fusionrec.encoders.pipeline import build_item_features

            modalities = search_modalities(dataset, features_config)
            features = build_item_features(dataset, features_config, modalities, progress=progress)
        else:  # what was encoded: a run's features may leave the catalogue's images out
            modalities = ["text", "image"] if "image" in features else ["text"]
        _check_features(features, features_config, modalities)
        views = {m: (features[m].matrix, features[m].mask) for m in modalities}
        if item_embeddings is not None:
            views[RECOMMENDER] = _recommender_view(item_embeddings, dataset.n_items)
        clip = _clip_model(features_config) if "image" in views else None
        text_only = "image" not in views
        frozen = ("text", "image") if clip else ("text",) if text_only else ()
        if len(views) == 1:  # text alone: nothing to align, queries meet items as encoded
            aligner = build_aligner(views, np.arange(dataset.n_items), config, frozen)
            report = AlignReport(list(views), dataset.n_items, 0, 0, {})
        else:
            aligner, report = _train(views, config, items, frozen)
        catalogue = {
            name: (aligner.embed(name, matrix) * mask[:, None], mask)
            for name, (matrix, mask) in views.items()
        }
        encoders = {m: features[m].encoder_id for m in modalities}
        if item_embeddings is not None:
            encoders[RECOMMENDER] = f"item-embeddings:{views[RECOMMENDER][0].shape[1]}d"
        manifest = {
            "format": _FORMAT,
            "kind": "catalogue-search",
            "dataset": dataset.name,
            "n_items": dataset.n_items,
            "mode": f"clip:{clip}" if clip else "text-only" if text_only else "trained-heads",
            "views": list(views),
            "encoders": encoders,
            "text_encoder": features_config.text.model_dump(mode="json"),
            "align": config.model_dump(mode="json"),
            "input_dims": {name: int(m.shape[1]) for name, (m, _) in views.items()},
            "frozen": list(frozen),
            "training": _report_summary(report),
        }
        return cls(aligner, catalogue, _item_table(dataset), features_config.text, manifest)

    # -- querying ---------------------------------------------------------------------------
    @property
    def text_encoder(self) -> BaseEncoder:
        """The catalogue's own text encoder (loaded on the first query)."""
        if self._text_encoder is None:
            encoder = make_encoder(self.text_config)
            if encoder.id != self.manifest["encoders"]["text"]:
                raise ConfigError(
                    f"this index was built with text encoder {self.manifest['encoders']['text']!r} "
                    f"but this machine's is {encoder.id!r}; rebuild the index"
                )
            self._text_encoder = encoder
        return self._text_encoder

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Queries in the aligned space, one unit-length row each."""
        for query in queries:
            if not isinstance(query, str) or not query.strip():
                raise ConfigError("empty query: give a sentence describing the items you want")
        matrix, _ = self.text_encoder.encode(queries)
        return self.aligner.embed("text", matrix)

    @property
    def default_way(self) -> str:
        """``image`` where the index has images (the point of cross-modal search), else
        ``text``."""
        return "image" if "image" in self.catalogue else "text"

    @property
    def ways(self) -> list[str]:
        """What ``by`` accepts: each aligned view (image, text, recommender if fitted with
        one) and, with two or more, ``fused``: all of an item's views together."""
        return [*self.catalogue, *(["fused"] if len(self.catalogue) > 1 else [])]

    def view(self, by: str) -> tuple[np.ndarray, np.ndarray]:
        """(aligned item embeddings, presence mask) of one way of matching items.

        ``fused`` is the normalised mean of every aligned view an item has (text, image and,
        when fitted with one, the recommender's item embedding).
        """
        if by not in self.ways:
            raise ConfigError(f"unknown by={by!r}: use one of {', '.join(self.ways)}")
        if by != "fused":
            return self.catalogue[by]
        total = sum(m * mask[:, None] for m, mask in self.catalogue.values())
        count = sum(mask.astype(np.float32) for _, mask in self.catalogue.values())
        mean = total / np.maximum(count, 1.0)[:, None]
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return (mean / np.maximum(norms, 1e-12)).astype(np.float32), count > 0

    def search(self, query: str, by: str | None = None, k: int = 10) -> pd.DataFrame:
        """Top ``k`` items for ``query``: item_id, score (cosine), title, image_path.

        ``by`` defaults to ``default_way``. Only items that have the view are ranked
        (``by="image"`` never returns an item without an image).
        """
        matrix, mask = self.view(by or self.default_way)
        k = check_k(k)
        scores = matrix @ self.embed_queries([query])[0]
        candidates = np.flatnonzero(mask)
        order = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        out = self.items.iloc[order].reset_index(drop=True)
        out.insert(1, "score", scores[order].astype(np.float64))
        return out

    def pair_scores(
        self, items: np.ndarray, query: str = "text", gallery: str = "image"
    ) -> np.ndarray:
        """Cosine of every ``items`` query view to every ``items`` gallery view (row i's
        right answer is column i), for evaluating retrieval on held-out items."""
        return self.view(query)[0][items] @ self.view(gallery)[0][items].T

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the index as a whole folder renamed into place: saving over an index never
        leaves the old manifest and heads beside a new catalogue."""
        arrays = {}
        for name, (matrix, mask) in self.catalogue.items():
            arrays[f"{name}__embedding"], arrays[f"{name}__mask"] = matrix, mask

        def write(folder: Path) -> None:
            self.items.to_parquet(folder / "items.parquet", index=False)
            with open(folder / "catalogue.npz", "wb") as fh:
                np.savez(fh, **arrays)
            save_torch(folder / "weights.pt", self.aligner.state_dict())
            write_json(folder / "manifest.json", {**self.manifest, "files": list(_FILES)})

        return write_folder_atomic(directory, write)

    @classmethod
    def load(cls, directory: str | Path) -> CatalogueSearch:
        """The index ``save`` wrote; errors name the folder and what to do."""
        import torch

        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.exists():
            raise DataError(
                "not a search index (no manifest.json)",
                path=directory,
                hint="build one with `fusionrec search QUERY -d DATASET --index DIR`",
            )
        manifest = read_json(manifest_path)
        if manifest.get("kind") != "catalogue-search" or manifest.get("format") != _FORMAT:
            raise DataError(
                f"unsupported index (kind {manifest.get('kind')!r}, format "
                f"{manifest.get('format')!r}; this fusionrec reads format {_FORMAT})",
                path=manifest_path,
                hint="rebuild the index",
            )
        config = AlignConfig.model_validate(manifest["align"])
        dims = manifest["input_dims"]
        views = {
            name: (np.zeros((1, dim), np.float32), np.ones(1, bool)) for name, dim in dims.items()
        }
        aligner = build_aligner(views, np.array([0]), config, tuple(manifest["frozen"]))
        state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        aligner.load_state_dict(state)
        with np.load(directory / "catalogue.npz") as data:
            catalogue = {
                v: (data[f"{v}__embedding"], data[f"{v}__mask"]) for v in manifest["views"]
            }
        items = pd.read_parquet(directory / "items.parquet")
        rows = {len(items), manifest.get("n_items", len(items))}
        rows |= {len(matrix) for matrix, _ in catalogue.values()}
        if len(rows) > 1:
            raise DataError(
                f"the index's files disagree on the number of items ({sorted(rows)})",
                path=directory,
                hint="rebuild the index",
            )
        text_config = parse_features_config({"text": manifest["text_encoder"]}).text
        return cls(aligner, catalogue, items, text_config, manifest)

    def describing(self, dataset: Dataset) -> CatalogueSearch:
        """This index with its item table (titles, image paths) read from ``dataset`` now:
        a cached index is found by the catalogue's ids and features, which stay the same
        when the data folder moves, and must not print the old folder's image paths."""
        table = _item_table(dataset)
        if table["item_id"].astype(str).tolist() != self.items["item_id"].astype(str).tolist():
            raise DataError(
                f"this index was fitted on other items than {dataset.name}'s",
                hint="fit the index again (leave out --index, or point it at a new folder)",
            )
        self.items = table
        return self


def _report_summary(report: AlignReport) -> dict[str, Any]:
    last = report.history[-1] if report.history else {}
    return {
        "trained_pairs": report.trained_pairs,
        "valid_pairs": report.valid_pairs,
        "skipped_missing_view": report.skipped,
        "best_epoch": report.best_epoch,
        "epochs_run": report.epochs_run,
        "logit_scale": report.logit_scale,
        "final_train_loss": last.get("train_loss"),
        "best_valid_loss": min((h["valid_loss"] for h in report.history), default=None),
    }


def index_key(
    dataset: Dataset,
    features: ItemFeatures,
    config: AlignConfig,
    item_embeddings: np.ndarray | None = None,
) -> str:
    """A cache key that changes with the catalogue, its features or the alignment settings."""
    digest = hashlib.sha256()
    for name in [m for m in ("text", "image") if m in features]:
        digest.update(features[name].encoder_id.encode())
        digest.update(features[name].matrix.tobytes())
        digest.update(features[name].mask.tobytes())
    if item_embeddings is not None:
        digest.update(np.ascontiguousarray(item_embeddings, dtype=np.float32).tobytes())
    payload = {
        "dataset": dataset.name,
        "items": [str(i) for i in dataset.item_ids.tolist()],
        "features": digest.hexdigest(),
        "align": config.model_dump(mode="json"),
        "format": _FORMAT,
    }
    return stable_hash(payload)[:16]


def default_index_dir(key: str, cache_dir: str | Path | None = None) -> Path:
    """Where the CLI caches a fitted index: in the feature cache, under ``search/``."""
    return Path(cache_dir or default_cache_dir()) / "search" / key
