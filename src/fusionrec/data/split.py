"""Train/valid/test splits. A ``Split`` labels every interaction 0/1/2 and is saved to the run
directory (external ids, so it survives re-indexing) and reloaded, so every model of a study
is compared on exactly the same interactions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fusionrec.data.dataset import ITEM, LABEL, TIMESTAMP, USER, Dataset
from fusionrec.data.tables import read_table, require_columns, row_lines
from fusionrec.errors import DataError
from fusionrec.io import read_json, write_atomic, write_json

log = logging.getLogger(__name__)

TRAIN, VALID, TEST = 0, 1, 2
METHODS = ("auto", "random", "temporal", "leave-one-out", "predefined", "cold-items")


@dataclass
class Split:
    """``labels[i]`` is the part (0 train, 1 valid, 2 test) of ``dataset.interactions`` row i.

    ``cold_items`` lists items withheld from training (cold-start split); the evaluator then
    ranks only among them for valid/test. ``log`` keeps the warnings made with the split
    (saved in ``split.json``), so a run directory still tells what was wrong with it.
    """

    labels: np.ndarray
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    cold_items: np.ndarray | None = None
    log: list[str] = field(default_factory=list)

    def rows(self, part: int) -> np.ndarray:
        return np.flatnonzero(self.labels == part)

    def counts(self) -> dict[str, int]:
        return {
            name: int((self.labels == code).sum())
            for name, code in (("train", TRAIN), ("valid", VALID), ("test", TEST))
        }

    def matrix(self, dataset: Dataset, part: int) -> sp.csr_matrix:
        return dataset.matrix(dataset.interactions.iloc[self.rows(part)])

    def pairs(self, dataset: Dataset, part: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows(part)
        inter = dataset.interactions
        return inter[USER].to_numpy()[rows], inter[ITEM].to_numpy()[rows]

    def save(self, directory: str | Path, dataset: Dataset) -> Path:
        """Write ``split.parquet`` (user_id, item_id, label in external ids) + ``split.json``."""
        directory = Path(directory)
        inter = dataset.interactions
        frame = pd.DataFrame(
            {
                "user_id": dataset.user_ids[inter[USER].to_numpy()],
                "item_id": dataset.item_ids[inter[ITEM].to_numpy()],
                "label": self.labels.astype(np.int8),
            }
        )
        write_atomic(directory / "split.parquet", lambda p: frame.to_parquet(p, index=False))
        meta = {"method": self.method, "params": self.params, "counts": self.counts()}
        if self.cold_items is not None:
            meta["cold_item_ids"] = dataset.item_ids[self.cold_items].tolist()
        if self.log:
            meta["log"] = list(self.log)
        write_json(directory / "split.json", meta)
        return directory / "split.parquet"

    @classmethod
    def load(cls, directory: str | Path, dataset: Dataset) -> Split:
        directory = Path(directory)
        path = directory / "split.parquet"
        if not path.exists():
            raise DataError("no saved split here", path=path, hint="Run 'fusionrec data split'")
        if not (directory / "split.json").exists():
            raise DataError(
                "split.parquet without its split.json (the method and, for a cold-items split, "
                "the withheld items that evaluation ranks)",
                path=directory,
                hint="copy split.json together with split.parquet",
            )
        frame = pd.read_parquet(path)
        meta = read_json(directory / "split.json")
        labels = _labels_from_frame(frame, dataset, path, exact=True)
        cold = None
        if "cold_item_ids" in meta:
            cold = pd.Index(dataset.item_ids).get_indexer(meta["cold_item_ids"])
        return cls(labels, meta["method"], meta.get("params", {}), cold, meta.get("log", []))


def _labels_from_frame(
    frame: pd.DataFrame, dataset: Dataset, path: Path, exact: bool = False
) -> np.ndarray:
    """Match a saved (user_id, item_id, label) table to the dataset's interaction rows.

    Rows of the table the data does not have are an error when ``exact`` (a run's own split:
    the data was read with other settings than the split was made for, and the saved counts
    no longer describe what trains), else counted in a warning (a published split file may
    list interactions that cleaning removed)."""
    inter = dataset.interactions
    bad = ~frame["label"].isin([TRAIN, VALID, TEST]).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"split label must be 0, 1 or 2, found {frame['label'].iloc[pos]!r}",
            path=path,
            line=int(row_lines(frame)[pos]),
            column="label",
        )
    u = pd.Index(dataset.user_ids).get_indexer(frame["user_id"])
    i = pd.Index(dataset.item_ids).get_indexer(frame["item_id"])
    for codes, col in ((u, "user_id"), (i, "item_id")):
        if (codes < 0).any():
            pos = int(np.flatnonzero(codes < 0)[0])
            raise DataError(
                f"split refers to unknown {col} {frame[col].iloc[pos]!r}",
                path=path,
                line=int(row_lines(frame)[pos]),
                column=col,
                hint="The split was made for another dataset or other cleaning settings",
            )
    # a (user, item) pair may recur (repeat consumption, dedupe: false): its k-th row in the
    # split labels its k-th interaction in the data, both in their own row order
    key_split = _occurrences(u.astype(np.int64) * dataset.n_items + i)
    key_data = _occurrences(inter[USER].to_numpy() * dataset.n_items + inter[ITEM].to_numpy())
    unused = ~key_split.isin(key_data)
    if unused.any():
        pos = int(np.flatnonzero(unused)[0])
        what = (
            f"{int(unused.sum()):,} of the split's {len(frame):,} interactions are not in "
            f"dataset '{dataset.name}' as read now (first: user {frame['user_id'].iloc[pos]!r}, "
            f"item {frame['item_id'].iloc[pos]!r})"
        )
        if exact:
            raise DataError(
                what,
                path=path,
                hint="The data was read with other settings than the split was made for "
                "(a filter such as implicit_threshold or kcore changed?): use the split's "
                "settings, or make a new split in another folder",
            )
        log.warning("%s: %s; they are left out", path, what)
    lookup = pd.Series(frame["label"].to_numpy(), index=key_split)
    labels = lookup.reindex(key_data).to_numpy()
    if np.isnan(labels.astype(float)).any():
        missing = int(np.isnan(labels.astype(float)).sum())
        raise DataError(
            f"{missing} interactions of dataset '{dataset.name}' are not in the saved split",
            path=path,
            hint="Re-create the split for this dataset",
        )
    return labels.astype(np.int8)


def _occurrences(keys: np.ndarray) -> pd.MultiIndex:
    """(key, how many earlier rows have the same key) for each row."""
    seen_before = pd.Series(keys).groupby(keys).cumcount().to_numpy()
    return pd.MultiIndex.from_arrays([keys, seen_before])


def _rank_within_user(users: np.ndarray, sort_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each row within its user when ordered by ``sort_key``, and the user's count."""
    order = np.lexsort((sort_key, users))
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, counts[users]


def _label_by_rank(
    rank: np.ndarray, n: np.ndarray, valid_ratio: float, test_ratio: float, min_train: int = 1
) -> np.ndarray:
    """The last ``n_test`` ranks go to test, the ``n_valid`` before them to valid.

    Users with too few interactions to keep ``min_train`` in training stay entirely in train.
    """
    n_test = np.maximum(1, np.rint(test_ratio * n)).astype(np.int64) if test_ratio > 0 else 0 * n
    n_valid = np.maximum(1, np.rint(valid_ratio * n)).astype(np.int64) if valid_ratio > 0 else 0 * n
    enough = n - n_test - n_valid >= min_train
    labels = np.full(len(rank), TRAIN, dtype=np.int8)
    labels[enough & (rank >= n - n_test)] = TEST
    labels[enough & (rank >= n - n_test - n_valid) & (rank < n - n_test)] = VALID
    return labels


def random_split(dataset: Dataset, ratios: tuple[float, float, float], seed: int) -> Split:
    """Per-user random split with ``max(1, round(ratio * n))`` valid and test items each."""
    rng = np.random.default_rng(seed)
    users = dataset.interactions[USER].to_numpy()
    rank, n = _rank_within_user(users, rng.random(len(users)))
    labels = _label_by_rank(rank, n, ratios[1], ratios[2])
    return Split(labels, "random", {"ratios": list(ratios), "seed": seed})


def temporal_split(dataset: Dataset, ratios: tuple[float, float, float]) -> Split:
    """Per-user split by time: each user's latest interactions are test, the ones before valid."""
    if not dataset.has_timestamps:
        raise DataError(
            f"temporal split needs timestamps; dataset '{dataset.name}' has none",
            hint="Map a timestamp column (dataset.columns.timestamp); without one, "
            "leave-one-out holds out each user's last rows in file order, and random ignores "
            "order (not for sequential models)",
        )
    inter = dataset.interactions
    rank, n = _rank_within_user(inter[USER].to_numpy(), inter[TIMESTAMP].to_numpy())
    return Split(
        _label_by_rank(rank, n, ratios[1], ratios[2]), "temporal", {"ratios": list(ratios)}
    )


def leave_one_out_split(dataset: Dataset) -> Split:
    """Each user's last interaction is test and the one before valid: last by time, or by
    row order in the file when there are no timestamps.

    Equal timestamps keep their row order (a stable sort), the order
    ``fusionrec.data.sequences`` gives user sequences: the test item is then the last item of
    the user's sequence and the validation item the one before, never an item that a training
    interaction of the same second follows. Without timestamps the sequences follow the file,
    and so does this split (it held out random items before, which sequential models then
    predicted from histories that ran past them).
    """
    inter = dataset.interactions
    users = inter[USER].to_numpy()
    if dataset.has_timestamps:
        key = inter[TIMESTAMP].to_numpy()  # _rank_within_user's lexsort is stable
    else:
        key = np.arange(len(users))
    rank, n = _rank_within_user(users, key)
    labels = np.full(len(users), TRAIN, dtype=np.int8)
    enough = n >= 3
    labels[enough & (rank == n - 1)] = TEST
    labels[enough & (rank == n - 2)] = VALID
    return Split(labels, "leave-one-out")


def predefined_split(dataset: Dataset) -> Split:
    """Use the ``label`` column read from the source (MMRec ``x_label``)."""
    if not dataset.has_split_labels:
        raise DataError(
            f"dataset '{dataset.name}' has no predefined split labels",
            hint="Use a source with an x_label/label column, or method: random",
        )
    return Split(dataset.interactions[LABEL].to_numpy().astype(np.int8), "predefined")


def predefined_split_from_file(dataset: Dataset, path: str | Path) -> Split:
    """Labels from an MMRec atomic file (``userID itemID x_label``, external ids) that lists
    every interaction of ``dataset``; an unknown user or item is reported by line."""
    path = Path(path)
    frame = read_table(path, "tsv", str_columns=["userID", "itemID"])
    require_columns(frame, ["userID", "itemID", "x_label"], path)
    frame = frame.rename(columns={"userID": "user_id", "itemID": "item_id", "x_label": "label"})
    for col, ids in (("user_id", dataset.user_ids), ("item_id", dataset.item_ids)):
        frame[col] = _like(frame[col], ids)
    labels = _labels_from_frame(frame, dataset, path)
    return Split(labels, "predefined", {"path": str(path)})


def _like(values: pd.Series, ids: np.ndarray) -> pd.Series:
    """Ids read as text, converted to the dataset's id kind (integers stay integers)."""
    if np.issubdtype(ids.dtype, np.integer):
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all():
            return numbers.astype(np.int64)
    return values


def cold_item_split(dataset: Dataset, fraction: float, seed: int) -> Split:
    """Withhold a seeded ``fraction`` of items from training entirely.

    Half of the withheld items form the validation set and half the test set (all their
    interactions); every other interaction is training data.
    """
    if not 0 < fraction < 1:
        raise DataError(f"cold_fraction must be in (0, 1), got {fraction}")
    items = dataset.interactions[ITEM].to_numpy()
    active = np.unique(items)
    rng = np.random.default_rng(seed)
    n_cold = max(2, int(round(fraction * len(active))))
    cold = rng.choice(active, size=n_cold, replace=False)
    valid_items, test_items = cold[: n_cold // 2], cold[n_cold // 2 :]
    labels = np.full(len(items), TRAIN, dtype=np.int8)
    labels[np.isin(items, valid_items)] = VALID
    labels[np.isin(items, test_items)] = TEST
    return Split(labels, "cold-items", {"fraction": fraction, "seed": seed}, np.sort(cold))


def resolve_method(dataset: Dataset, method: str | None, path: str | Path | None = None) -> str:
    """``auto`` (or None): the source's own labels when it carries them (MMRec ``x_label``,
    a mapped ``label`` column) or a labels file is given, else ``random``. The choice is
    logged, so a file's split labels are never silently ignored."""
    if method not in (None, "auto"):
        ignored = dataset.has_split_labels and method != "predefined"
        note = f"; the split labels in dataset '{dataset.name}' are not used" if ignored else ""
        log.info("split: %s (split.method)%s", method, note)
        return method
    if path is not None or dataset.has_split_labels:
        where = f"file {path}" if path is not None else "the dataset's label column (x_label)"
        log.info("split: predefined, from %s (set split.method to use another)", where)
        return "predefined"
    log.info("split: random (the dataset carries no split labels)")
    return "random"


def make_split(
    dataset: Dataset,
    method: str | None = "auto",
    *,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 2026,
    cold_fraction: float = 0.2,
    path: str | Path | None = None,
) -> Split:
    """Dispatch to a split method by name (``auto``: see ``resolve_method``) and check the
    result is usable."""
    if path is not None and method not in (None, "auto", "predefined"):
        # the labels file would otherwise be ignored: the caller believes it is used
        raise DataError(
            f"split path {str(path)!r} is a predefined split's labels file, but the split "
            f"method is '{method}', which would ignore it",
            hint="Drop one of the two: method 'predefined' (or 'auto') uses the file",
        )
    method = resolve_method(dataset, method, path)
    if abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) < 0:
        raise DataError(f"split ratios must be non-negative and sum to 1, got {list(ratios)}")
    if method == "random":
        split = random_split(dataset, ratios, seed)
    elif method == "temporal":
        split = temporal_split(dataset, ratios)
    elif method == "leave-one-out":
        split = leave_one_out_split(dataset)
    elif method == "predefined":
        split = predefined_split_from_file(dataset, path) if path else predefined_split(dataset)
    elif method == "cold-items":
        split = cold_item_split(dataset, cold_fraction, seed)
    else:
        raise DataError(f"unknown split method '{method}'", hint=f"Use one of {list(METHODS)}")
    counts = split.counts()
    for part, use in (("train", "train on"), ("valid", "select on"), ("test", "score")):
        if counts[part] == 0:
            raise DataError(
                f"split '{method}' left no {part} interactions, so there is nothing to {use}",
                hint=_EMPTY_PART_HINTS.get(
                    method, "Give every part a share (split.ratios), or check the split file"
                ),
            )
    if method != "predefined":
        _note_pairs_in_train(dataset, split)
    return split


def _note_pairs_in_train(dataset: Dataset, split: Split) -> None:
    """Warn when valid/test rows repeat a (user, item) pair of train (data read without
    de-duplication): the evaluator masks training items, so such a positive can never be
    hit and the metrics drop without any other sign. A predefined split is the publisher's
    and is left as it is."""
    inter = dataset.interactions
    keys = inter[USER].to_numpy().astype(np.int64) * dataset.n_items + inter[ITEM].to_numpy()
    train = np.isin(keys, keys[split.labels == TRAIN])
    counts = {
        name: int((train & (split.labels == code)).sum())
        for name, code in (("valid", VALID), ("test", TEST))
    }
    if not any(counts.values()):
        return
    message = (
        f"split '{split.method}' of dataset '{dataset.name}': {counts['valid']} valid and "
        f"{counts['test']} test interactions repeat a (user, item) pair that is also in train; "
        "they cannot be hit when training items are masked, so they lower the metrics. "
        "Load the data with dedupe: true (one interaction per pair) to avoid it"
    )
    log.warning(message)
    split.log.append(message)


_EMPTY_PART_HINTS = {
    "leave-one-out": "Leave-one-out holds out the last two interactions of each user with at "
    "least 3; give users more interactions (a lower kcore filter?) or use method: random",
    "predefined": "Check the split file: every part needs interactions",
}
