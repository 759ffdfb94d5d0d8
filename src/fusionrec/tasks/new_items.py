"""New items without retraining: items added to a fitted recommender's catalogue after
training are scored through the catalogue items most like them in content.

A catalogue grows between trainings (new releases, new stock). Each new item's ``k``
nearest *warm* catalogue items (items with training interactions, whose scores the model
learned) are found by cosine of centred, per-modality L2-normalised content
(``content_matrix``, as content-knn and cold-transfer compare items) and weighted by their
non-negative similarities, normalised to sum to one (``content_neighbours``). With
P = [I | T] the [n, n + m] map whose last m columns hold those weights, what the model knows
per item carries over linearly:

* scores: S' = S P. A new item's score for a user is the weighted mean of its neighbours'
  scores, for every model (embedding, item-item, sequential, popularity);
* item vectors and per-item offsets: V' = Pᵀ V, o' = Pᵀ o, so user . item (+ offset) still
  gives S' and a bundle serves new items from its vectors like any other;
* an item-item model's W' = Pᵀ W P, so a new user who liked a new item is scored too.

It is the rule cold-transfer applies inside training to catalogue items nobody interacted
with (``benchmarks/results/cold_start.md`` measures cold-transfer on withheld items), applied
after training to items the run never saw. Their content is encoded by the run's encoders; the
catalogue's features come from the run (or, for a run without features, from the feature
cache). A modality the run read pre-computed cannot be encoded for a new item: the new items
are placed by the others and have no vector in that view.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fusionrec.config import read_saved_config
from fusionrec.data import Dataset
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.data.tables import read_table
from fusionrec.encoders.config import FeaturesConfig
from fusionrec.encoders.pipeline import default_modalities, extract_item_features
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.models.base import Params, Recommender, TrainData
from fusionrec.models.cold_transfer import content_neighbours
from fusionrec.models.content_knn import content_matrix
from fusionrec.models.item_item import ItemItemRecommender
from fusionrec.models.sequential import SequentialRecommender
from fusionrec.tasks.views import added_in_history
from fusionrec.train.experiment import features_settings

log = logging.getLogger(__name__)

#: Content neighbours per new item (cold-transfer's default).
DEFAULT_NEIGHBOURS = 50
#: Modalities a new item's raw content can be encoded from (column in ``Dataset.items``).
ENCODABLE = ("text", "image", "audio")
_PATH_COLUMNS = ("image_path", "audio_path")


def read_new_items(items: pd.DataFrame | str | Path, dataset: Dataset) -> pd.DataFrame:
    """The new items as rows of ``dataset.items``: an ``item_id`` column, the dataset's text
    fields, ``image_path`` / ``audio_path`` (relative paths are read from the file's folder).
    Refuses ids that repeat or that the catalogue already has."""
    if isinstance(items, pd.DataFrame):
        frame, where, folder = items.copy(), "the new items table", None
    else:
        path = Path(items)
        frame = read_table(path, str_columns=["item_id"])
        where, folder = str(path), path.parent
    if "item_id" not in frame.columns:
        raise DataError(
            f"{where}: no 'item_id' column; a new item needs its id, its text fields "
            f"({', '.join(dataset.text_fields) or 'none in this dataset'}) and/or image_path"
        )
    if frame.empty:
        raise DataError(f"{where}: no rows; give at least one new item")
    frame["item_id"] = _catalogue_ids(frame["item_id"], dataset, where)
    repeated = frame["item_id"][frame["item_id"].duplicated()].unique().tolist()
    if repeated:
        raise DataError(f"{where}: item ids given twice: {_listed(repeated)}")
    known = frame["item_id"][frame["item_id"].isin(set(dataset.item_ids.tolist()))].tolist()
    if known:
        raise DataError(
            f"{where}: item ids already in the catalogue: {_listed(known)}; a new item needs an "
            "id the run has not seen (a changed item is retrained, not added)"
        )
    for column in _PATH_COLUMNS:
        if column in frame.columns and folder is not None:
            frame[column] = [_resolved(p, folder) for p in frame[column]]
    return frame.reset_index(drop=True)


def _catalogue_ids(ids: pd.Series, dataset: Dataset, where: str) -> pd.Series:
    """``ids`` in the catalogue's id type: integers for an integer-id catalogue."""
    if dataset.item_ids.dtype.kind not in "iu":
        return ids.astype(str)
    numbers = pd.to_numeric(ids, errors="coerce")
    bad = ids[numbers.isna() | (numbers != numbers.round())].tolist()
    if bad:
        raise DataError(
            f"{where}: the catalogue's item ids are integers; not integers: {_listed(bad)}"
        )
    return numbers.astype(np.int64)


def _resolved(value: Any, folder: Path) -> Any:
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    return str(folder / value)


def _listed(ids: list[Any]) -> str:
    shown = ", ".join(repr(i) for i in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def placement_settings(
    run_dir: Path | None, features: ItemFeatures | None, dataset: Dataset
) -> tuple[list[str], FeaturesConfig, str | None]:
    """(modalities to place new items by, their encoder settings, the feature cache folder):
    the run's encoded modalities, or every modality the dataset has for a run without
    features (with the default encoders)."""
    config, cache_dir = FeaturesConfig(), None
    if run_dir is not None:
        section = read_saved_config(run_dir / "config.yaml").features
        if section is not None:
            _, cache_dir, config = features_settings(section)
    if features is not None:
        names = features.names
    else:
        names = default_modalities(dataset, config)
    shipped = {*config.precomputed, *dataset.precomputed}
    usable = [n for n in names if n in ENCODABLE and n not in shipped]
    if not usable:
        raise ConfigError(
            "new items are placed by their content, but this run has none fusionrec can "
            f"encode (its modalities: {', '.join(names) or 'none'}; pre-computed ones cannot be "
            "computed for a new item); train with text or image features, or on a dataset "
            "with dataset.text_fields / image_column"
        )
    skipped = [n for n in names if n not in usable]
    if skipped:
        log.warning(
            "new items are placed by %s only: the run read %s pre-computed, so new items "
            "have no vector in that view",
            ", ".join(usable),
            ", ".join(skipped),
        )
    return usable, config, cache_dir


def extended_features(old: ItemFeatures, new: ItemFeatures) -> ItemFeatures:
    """The catalogue's features with the new items' rows below: encoded ones where the new
    items have them, absent (zero, masked) in the modalities ``new`` lacks."""
    out = ItemFeatures(old.n_items + new.n_items)
    for mod in old:
        if mod.name in new:
            matrix = np.vstack([mod.matrix, new[mod.name].matrix.astype(mod.matrix.dtype)])
            mask = np.concatenate([mod.mask, new[mod.name].mask])
        else:
            matrix = np.vstack([mod.matrix, np.zeros((new.n_items, mod.dim), mod.matrix.dtype)])
            mask = np.concatenate([mod.mask, np.zeros(new.n_items, bool)])
        out.add(ModalityFeatures(mod.name, matrix, mask, mod.encoder_id))
    return out


def transfer_matrix(content: np.ndarray, warm: np.ndarray, n_old: int, k: int) -> sp.csr_matrix:
    """T [n_old, m]: column j holds new item j's neighbour weights over the warm items
    (rows ``n_old:`` of ``content`` are the new items)."""
    m = content.shape[0] - n_old
    pool = warm[np.abs(content[warm]).sum(axis=1) > 0]
    if len(pool) == 0:
        raise ModelError("no trained catalogue item has content to compare new items with")
    idx, weights = content_neighbours(content, np.arange(n_old, n_old + m), pool, k)
    cols = np.repeat(np.arange(m), idx.shape[1])
    return sp.csr_matrix((weights.ravel(), (idx.ravel(), cols)), shape=(n_old, m))


class WithNewItems(Recommender):
    """A fitted model with new items appended to its catalogue, scored through ``transfer``
    (see the module docstring). Not trained, not registered: built by ``add_items``."""

    trainable = False

    def __init__(self, base: Recommender, data: TrainData, transfer: sp.csr_matrix) -> None:
        super().__init__(data, Params())
        # the wrapped model's identity: errors, manifests and views name the model trained
        for attr in ("name", "requires_features", "sequential", "scores_by_dot_product"):
            setattr(self, attr, getattr(base, attr))
        self.base = base.eval()
        self.n_old = transfer.shape[0]
        self.transfer = transfer
        coo = transfer.T.tocoo()  # Tᵀ [m, n_old], k entries a row: memory O(m k), not O(m n)
        indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        weights = torch.from_numpy(coo.data.astype(np.float32))
        self._tt = torch.sparse_coo_tensor(
            indices, weights, coo.shape, check_invariants=True
        ).coalesce()

    def _weighted(self, rows: torch.Tensor) -> torch.Tensor:
        """Tᵀ rows: [n_old, d] -> [m, d], each new item's weighted mean of its neighbours'."""
        tt = self._tt.to(rows.device).to(rows.dtype)
        return torch.sparse.mm(tt, rows)

    def _extend_columns(self, scores: torch.Tensor) -> torch.Tensor:
        """[B, n_old] -> [B, n_old + m]: S P."""
        return torch.cat([scores, self._weighted(scores.T).T], dim=1)

    def _extend_rows(self, rows: torch.Tensor | None) -> torch.Tensor | None:
        """[n_old, ...] -> [n_old + m, ...]: Pᵀ V."""
        if rows is None:
            return None
        if rows.dim() == 1:
            return torch.cat([rows, self._weighted(rows[:, None])[:, 0]])
        return torch.cat([rows, self._weighted(rows)])

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        scores = self._extend_columns(self.base.score(users))
        return scores if items is None else scores[:, items]

    def item_embeddings(self) -> torch.Tensor | None:
        return self.cached("items", lambda: self._extend_rows(self.base.item_embeddings()))

    def user_embeddings(self) -> torch.Tensor | None:
        return self.base.user_embeddings()

    def behaviour_embeddings(self) -> torch.Tensor | None:
        return self.cached("behaviour", lambda: self._extend_rows(self.base.behaviour_embeddings()))

    def item_score_offsets(self) -> torch.Tensor | None:
        return self._extend_rows(self.base.item_score_offsets())

    # -- item-item models: W' = Pᵀ W P over the user rows with zero new columns ----------
    @property
    def item_item(self) -> np.ndarray | sp.csr_matrix | None:
        if not isinstance(self.base, ItemItemRecommender):
            return None

        def build() -> np.ndarray | sp.csr_matrix:
            p = sp.hstack([sp.identity(self.n_old, np.float32, "csr"), self.transfer]).tocsr()
            w = self.base.item_item
            if sp.issparse(w):
                return sp.csr_matrix(p.T @ w @ p, dtype=np.float32)
            return np.asarray((p.T @ np.asarray(w)) @ p, np.float32)

        return self.cached("item_item", build)

    @property
    def history(self) -> sp.csr_matrix:
        """The item-item model's user rows, with the (empty) columns of the new items."""
        if not isinstance(self.base, ItemItemRecommender):
            raise ModelError(f"model '{self.name}' has no item-item history rows")
        rows = self.base.history
        return sp.hstack([rows, sp.csr_matrix((rows.shape[0], self.transfer.shape[1]))]).tocsr()

    # -- sequential models: histories of trained items only --------------------------------
    def _sequential(self) -> SequentialRecommender:
        if not isinstance(self.base, SequentialRecommender):
            raise ModelError(f"model '{self.name}' does not read ordered histories")
        return self.base

    def encode_history(self, items: np.ndarray | list[int]) -> torch.Tensor:
        rows = np.asarray(items, np.int64)
        if (rows >= self.n_old).any():
            raise added_in_history(self.name)
        return self._sequential().encode_history(rows)

    def history_window(self, items: np.ndarray | list[int]) -> np.ndarray:
        return self._sequential().history_window(items)

    def history_encoder(self) -> torch.nn.Module:
        return self._sequential().history_encoder()

    @property
    def pad(self) -> int:
        """The padding row of the trained item table: its trained item count."""
        return self._sequential().pad


def add_items(
    model: Recommender,
    data: TrainData,
    dataset: Dataset,
    run_dir: Path | None,
    items: pd.DataFrame | str | Path,
    k: int | None = None,
    progress: bool = False,
) -> tuple[WithNewItems, TrainData, Dataset]:
    """The model, training data and dataset of the catalogue with ``items`` appended, each
    scored through its ``k`` (default ``DEFAULT_NEIGHBOURS``) nearest trained items
    (``FittedRecommender.add_items`` builds the recommender from them)."""
    k = DEFAULT_NEIGHBOURS if k is None else k
    if isinstance(model, WithNewItems):
        raise ConfigError("add all new items in one add_items call, to the fitted recommender")
    if k < 1:
        raise ConfigError(f"k (content neighbours per new item) must be at least 1, got {k}")
    table = read_new_items(items, dataset)
    names, config, cache_dir = placement_settings(run_dir, data.features, dataset)
    columns = list(dict.fromkeys([*dataset.items.columns, *table.columns]))
    new_only = replace(
        dataset,
        items=table.reindex(columns=columns),
        interactions=dataset.interactions.iloc[:0],
        precomputed={},
        log=[],
    )
    new_feats, _ = extract_item_features(new_only, config, names, cache_dir, progress)
    present = np.zeros(len(table), bool)
    for mod in new_feats:
        present |= mod.mask
    if not present.all():
        raise DataError(
            f"new items without any {' or '.join(names)} content to place them by: "
            f"{_listed(table['item_id'][~present].tolist())} (text fields "
            f"{', '.join(dataset.text_fields) or 'none'}; image_path / audio_path files)"
        )
    old_feats = data.features
    if old_feats is None:  # an id-only run: the catalogue's content from the feature cache
        old_feats, _ = extract_item_features(dataset, config, names, cache_dir, progress)
    placing = extended_features(old_feats.select(names), new_feats)
    warm = np.flatnonzero(np.asarray(data.train_matrix.sum(axis=0)).ravel() > 0)
    transfer = transfer_matrix(
        content_matrix(placing, names, center=True), warm, dataset.n_items, k
    )
    extended = replace(dataset, items=pd.concat([dataset.items, new_only.items], ignore_index=True))
    n_new = dataset.n_items + len(table)
    train = sp.hstack([data.train_matrix, sp.csr_matrix((data.n_users, len(table)))]).tocsr()
    features = None if data.features is None else extended_features(data.features, new_feats)
    # item_labels are training targets (auxiliary tasks): a fitted model no longer reads them
    new_data = replace(data, n_items=n_new, train_matrix=train, features=features, item_labels={})
    log.info("added %d items, each scored through %d content neighbours", len(table), k)
    return WithNewItems(model, new_data, transfer), new_data, extended
