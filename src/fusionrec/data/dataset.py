"""The in-memory dataset every later stage reads: interactions plus item and user tables.

External ids (strings or integers from the source files) are mapped once to contiguous
indices ``0..n-1``; every matrix in fusionrec (features, embeddings, scores) is aligned
with these indices, and ``item_ids[i]`` / ``user_ids[u]`` map back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fusionrec.errors import DataError

#: Column names of ``Dataset.interactions``.
USER, ITEM, RATING, TIMESTAMP, LABEL = "user", "item", "rating", "timestamp", "label"


@dataclass
class Dataset:
    """Interactions (``user``, ``item`` indices, optional ``rating``/``timestamp``/``label``).

    ``items`` has one row per item index (column ``item_id`` holds the external id) and any
    content columns: text fields, ``image_path``, ``audio_path``. ``users`` likewise, or None.
    ``text_fields`` / ``image_column`` / ``audio_column`` tell the encoders where content is.
    ``log`` records every cleaning step with the number of rows it dropped.
    ``precomputed`` maps a modality to a ``.npy`` file shipped with the data whose row i is
    the item with external id i (MMRec's ``image_feat.npy``); the encoders read it as that
    modality's features unless the config names another source.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None = None
    text_fields: list[str] = field(default_factory=list)
    image_column: str | None = None
    audio_column: str | None = None
    label_columns: list[str] = field(default_factory=list)
    precomputed: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if "item_id" not in self.items.columns:
            raise ValueError("Dataset.items needs an 'item_id' column")
        if self.users is None:
            self.users = pd.DataFrame({"user_id": self._user_ids_from_source()})
        self.items = self.items.reset_index(drop=True)
        self.users = self.users.reset_index(drop=True)

    def _user_ids_from_source(self) -> np.ndarray:
        n = int(self.interactions[USER].max()) + 1 if len(self.interactions) else 0
        return np.arange(n)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> np.ndarray:
        return self.items["item_id"].to_numpy()

    @property
    def user_ids(self) -> np.ndarray:
        return self.users["user_id"].to_numpy()

    @property
    def has_ratings(self) -> bool:
        return RATING in self.interactions.columns

    @property
    def has_timestamps(self) -> bool:
        return TIMESTAMP in self.interactions.columns

    @property
    def has_split_labels(self) -> bool:
        """True when the source carries train/valid/test labels (MMRec ``x_label``)."""
        return LABEL in self.interactions.columns

    @property
    def title_column(self) -> str | None:
        """The item column that names an item to a person in every result table: ``title``,
        else the first text field (a catalogue of your own may call it ``name``)."""
        if self.items is not None and "title" in self.items.columns:
            return "title"
        return self.text_fields[0] if self.text_fields else None

    def item_index(self) -> dict[Any, int]:
        return {k: i for i, k in enumerate(self.item_ids.tolist())}

    def user_index(self) -> dict[Any, int]:
        return {k: i for i, k in enumerate(self.user_ids.tolist())}

    def matrix(self, rows: pd.DataFrame | None = None) -> sp.csr_matrix:
        """Binary user x item CSR matrix of ``rows`` (all interactions by default)."""
        rows = self.interactions if rows is None else rows
        return interaction_matrix(
            rows[USER].to_numpy(), rows[ITEM].to_numpy(), self.n_users, self.n_items
        )

    def summary(self) -> dict[str, Any]:
        n = len(self.interactions)
        u_deg = np.bincount(self.interactions[USER].to_numpy(), minlength=self.n_users)
        i_deg = np.bincount(self.interactions[ITEM].to_numpy(), minlength=self.n_items)
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": n / max(1, self.n_users * self.n_items),
            "user_degree": _degree_stats(u_deg),
            "item_degree": _degree_stats(i_deg),
            "text_fields": list(self.text_fields),
            "image_column": self.image_column,
            "audio_column": self.audio_column,
        }


def _degree_stats(deg: np.ndarray) -> dict[str, float]:
    if deg.size == 0:
        return {"min": 0, "median": 0, "mean": 0.0, "max": 0}
    return {
        "min": int(deg.min()),
        "p25": float(np.percentile(deg, 25)),
        "median": float(np.median(deg)),
        "mean": float(deg.mean()),
        "p75": float(np.percentile(deg, 75)),
        "max": int(deg.max()),
    }


def interaction_matrix(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> sp.csr_matrix:
    """Binary CSR matrix; repeated (user, item) pairs count once."""
    data = np.ones(len(users), dtype=np.float32)
    mat = sp.csr_matrix(
        (data, (np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64))),
        shape=(n_users, n_items),
    )
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def build_dataset(
    name: str,
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    **meta: Any,
) -> Dataset:
    """Map external ids to indices and assemble a ``Dataset``.

    ``interactions`` holds external ids in ``user_col``/``item_col`` and optionally ``rating``,
    ``timestamp``, ``label``. The item index covers every item in the item table and every
    item in the interactions (items without content still get a row; content columns are
    NaN there). Users likewise.
    """
    inter_items = pd.unique(interactions[item_col])
    if items is None:
        items = pd.DataFrame({"item_id": np.sort(inter_items)})
    else:
        items = items.rename(columns={item_col: "item_id"}) if item_col != "item_id" else items
        missing = np.setdiff1d(inter_items, items["item_id"].to_numpy())
        if len(missing):
            extra = pd.DataFrame({"item_id": missing})
            items = pd.concat([items, extra], ignore_index=True)
            meta.setdefault("log", []).append(
                f"{len(missing)} interacted items have no row in the item table; "
                "they get empty content"
            )
    inter_users = pd.unique(interactions[user_col])
    if users is None:
        users = pd.DataFrame({"user_id": np.sort(inter_users)})
    else:
        users = users.rename(columns={user_col: "user_id"}) if user_col != "user_id" else users
        missing = np.setdiff1d(inter_users, users["user_id"].to_numpy())
        if len(missing):
            users = pd.concat([users, pd.DataFrame({"user_id": missing})], ignore_index=True)
    for table, kind in ((items, "item"), (users, "user")):
        _require_unique_ids(table[f"{kind}_id"], kind)
    item_codes = pd.Index(items["item_id"]).get_indexer(interactions[item_col])
    user_codes = pd.Index(users["user_id"]).get_indexer(interactions[user_col])
    frame = pd.DataFrame({USER: user_codes.astype(np.int64), ITEM: item_codes.astype(np.int64)})
    for col in (RATING, TIMESTAMP, LABEL):
        if col in interactions.columns:
            frame[col] = interactions[col].to_numpy()
    return Dataset(name=name, interactions=frame, items=items, users=users, **meta)


def _require_unique_ids(ids: pd.Series, kind: str) -> None:
    """An id must map to exactly one index; the readers resolve repeated table rows first
    (keeping the first, with a warning), so a repeat here comes from a direct caller."""
    repeated = ids[ids.duplicated()]
    if len(repeated):
        example = sorted(pd.unique(repeated).tolist(), key=str)[:5]
        raise DataError(
            f"the {kind} table repeats {len(repeated)} {kind}_id value(s), e.g. {example}",
            column=f"{kind}_id",
            hint=f"Give each {kind} one row (the readers keep the first row of a repeated id)",
        )
