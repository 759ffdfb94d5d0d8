"""Import feature matrices computed elsewhere (.npy, .npz, Parquet), aligned with item ids.

* ``.npy``: row i is item index i (MMRec's ``text_feat.npy`` / ``image_feat.npy``); the row
  count must equal the number of items.
* ``.npz``: the matrix in array ``features`` (or ``matrix``, or the only 2-D array), optional
  ``mask`` (bool per row), optional id array (``item_id``/``ids`` or ``id_column``) and
  optional ``encoder`` (the id of the encoder that made it: ``export_features`` writes all
  four, so features encoded on one machine train on another without its encoders).
* Parquet: an id column (``item_id`` or ``id_column``) plus either one list-valued column or
  numeric columns, one per dimension.

``rows_are_ids`` (the ``*_feat.npy`` shipped in an MMRec folder): row i belongs to the item
whose external id is the integer i, so the rows stay aligned after k-core filtering
re-indexes the catalogue.

With ids, rows are aligned by id: catalogue items absent from the file get mask False; ids
not in the catalogue are an error naming them. NaN/inf values are an error naming the file
and the first bad row.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.data.npy import read_npy
from fusionrec.errors import DataError
from fusionrec.io import write_atomic

_ID_NAMES = ("item_id", "ids", "id")
_MATRIX_NAMES = ("features", "matrix", "embeddings", "feat")


def load_precomputed(
    name: str,
    path: str | Path,
    item_ids: np.ndarray,
    id_column: str | None = None,
    rows_are_ids: bool = False,
) -> ModalityFeatures:
    """Read ``path`` as modality ``name`` aligned with ``item_ids`` (the catalogue order)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError("pre-computed feature file not found", path=path)
    suffix = path.suffix.lower()
    origin = None
    if suffix == ".npy":
        matrix, mask, ids = read_npy(path), None, None
        if rows_are_ids:
            matrix = _rows_of_ids(_check_matrix(matrix, path), item_ids, path)
        if id_column is not None:
            raise DataError(f"a .npy file carries no id column ({id_column!r})", path=path)
    elif suffix == ".npz":
        matrix, mask, ids, origin = _read_npz(path, id_column)
    elif suffix in {".parquet", ".pq"}:
        matrix, mask, ids = _read_parquet(path, id_column)
    else:
        raise DataError(
            f"unsupported feature file type {suffix!r}",
            path=path,
            hint="use .npy, .npz or .parquet",
        )
    matrix = _check_matrix(np.asarray(matrix), path)
    present = np.ones(len(matrix), bool) if mask is None else np.asarray(mask, dtype=bool)
    if present.shape != (len(matrix),):
        raise DataError(f"mask has shape {present.shape}, expected ({len(matrix)},)", path=path)
    if ids is None:
        if len(matrix) != len(item_ids):
            raise DataError(
                f"has {len(matrix)} rows but the catalogue has {len(item_ids)} items",
                path=path,
                hint="row i must be item index i, or the file must carry an item id column",
            )
        aligned, aligned_mask = matrix, present
    else:
        aligned, aligned_mask = _align_by_id(matrix, present, np.asarray(ids), item_ids, path)
    encoder_id = f"precomputed:{path.name}" + (f" (encoded by {origin})" if origin else "")
    return ModalityFeatures(name, aligned, aligned_mask, encoder_id=encoder_id)


def exported_files(folder: str | Path, modalities: list[str]) -> dict[str, str]:
    """Where ``export_features`` writes each of ``modalities`` in ``folder``: the
    ``features.precomputed`` section that reads an export back."""
    return {name: str(Path(folder) / f"{name}.npz") for name in modalities}


def export_features(features: ItemFeatures, item_ids: np.ndarray, folder: str | Path) -> list[Path]:
    """Write each modality as ``<folder>/<name>.npz`` (matrix, mask, item ids, encoder id),
    the ``.npz`` layout ``load_precomputed`` reads back to the same matrix and mask: encode
    where the encoder models are, train where they are not. Each file is written atomically."""
    ids = np.asarray(item_ids)
    if ids.dtype == object:  # string ids: a unicode array needs no pickle to read back
        ids = ids.astype(str)
    written = []
    for mod in features:

        def save(tmp: Path, mod: ModalityFeatures = mod) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh,
                    features=mod.matrix,
                    mask=mod.mask,
                    item_id=ids,
                    encoder=np.str_(mod.encoder_id),
                )

        written.append(write_atomic(exported_files(folder, [mod.name])[mod.name], save))
    return written


def _rows_of_ids(matrix: np.ndarray, item_ids: np.ndarray, path: Path) -> np.ndarray:
    """Rows ``item_ids`` of ``matrix``: external id i is row i (MMRec)."""
    ids = np.asarray(item_ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise DataError("row i must be item id i, but the item ids are not integers", path=path)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(matrix)):
        raise DataError(
            f"has {len(matrix)} rows but the item ids go up to {int(ids.max())}",
            path=path,
            hint="row i must be item id i: use the features of the same export as the data",
        )
    return matrix[ids]


def _read_npz(
    path: Path, id_column: str | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str | None]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc) or type(exc).__name__
        raise DataError(f"not a readable .npz file: {reason}", path=path) from None
    key = next((k for k in _MATRIX_NAMES if k in arrays), None)
    if key is None:
        two_d = [k for k, v in arrays.items() if v.ndim == 2]
        if len(two_d) != 1:
            raise DataError(
                f"cannot tell which array holds the features among {sorted(arrays)}",
                path=path,
                hint=f"name it one of {list(_MATRIX_NAMES)}",
            )
        key = two_d[0]
    id_key = id_column or next((k for k in _ID_NAMES if k in arrays), None)
    if id_column is not None and id_column not in arrays:
        raise DataError(f"no id array {id_column!r}; arrays: {sorted(arrays)}", path=path)
    origin = str(arrays["encoder"]) if arrays.get("encoder", np.empty(1)).ndim == 0 else None
    ids = None if id_key is None else arrays[id_key]
    return arrays[key], arrays.get("mask"), ids, origin


def _read_parquet(path: Path, id_column: str | None) -> tuple[np.ndarray, None, np.ndarray | None]:
    try:
        frame = pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", path=path) from None
    id_key = id_column or next((c for c in _ID_NAMES if c in frame.columns), None)
    if id_column is not None and id_column not in frame.columns:
        raise DataError(f"no id column {id_column!r}; columns: {list(frame.columns)}", path=path)
    ids = None if id_key is None else frame[id_key].to_numpy()
    values = frame.drop(columns=[id_key]) if id_key else frame
    if values.shape[1] == 1 and pd.api.types.is_object_dtype(values.dtypes.iloc[0]):
        column = values.columns[0]
        lengths = values[column].map(len)
        if lengths.nunique() != 1:
            bad = int(np.flatnonzero(lengths.to_numpy() != lengths.iloc[0])[0])
            raise DataError(
                f"list column {column!r} has vectors of different lengths (first at row {bad})",
                path=path,
            )
        return np.stack(values[column].to_numpy()), None, ids
    non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if non_numeric:
        raise DataError(
            f"non-numeric feature columns {non_numeric}",
            path=path,
            hint="pass id_column if one of them holds the item ids",
        )
    return values.to_numpy(), None, ids


def _check_matrix(matrix: np.ndarray, path: Path) -> np.ndarray:
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise DataError(f"features must be a 2-D matrix, got shape {matrix.shape}", path=path)
    if not np.issubdtype(matrix.dtype, np.number):
        raise DataError(f"features must be numeric, got dtype {matrix.dtype}", path=path)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise DataError(
            f"NaN or infinite values in {int((~finite).sum())} rows, first at row {bad}",
            path=path,
        )
    return matrix.astype(np.float32, copy=False)


def _align_by_id(
    matrix: np.ndarray,
    present: np.ndarray,
    ids: np.ndarray,
    item_ids: np.ndarray,
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder rows to the catalogue; missing items get mask False."""
    if ids.ndim != 1 or len(ids) != len(matrix):
        raise DataError(
            f"the file has {len(matrix)} feature rows but {ids.size} item ids; it needs one "
            "id per row",
            path=path,
            hint="save the ids of exactly the rows saved (np.savez(..., features=M, item_id=ids))",
        )
    file_ids = pd.Index(_comparable(ids, item_ids, path))
    if file_ids.has_duplicates:
        dup = file_ids[file_ids.duplicated()].unique()[:5].tolist()
        raise DataError(f"duplicate item ids in the file, e.g. {dup}", path=path)
    catalogue = pd.Index(item_ids)
    unknown = file_ids.difference(catalogue)
    if len(unknown):
        raise DataError(
            f"{len(unknown)} item ids are not in the catalogue, e.g. {unknown[:10].tolist()}",
            path=path,
        )
    rows = file_ids.get_indexer(catalogue)
    found = rows >= 0
    aligned = np.zeros((len(item_ids), matrix.shape[1]), dtype=np.float32)
    aligned[found] = matrix[rows[found]]
    mask = np.zeros(len(item_ids), dtype=bool)
    mask[found] = present[rows[found]]
    return aligned, mask


def _comparable(ids: np.ndarray, item_ids: np.ndarray, path: Path) -> np.ndarray:
    """Cast file ids to the catalogue's id kind (ids saved as strings vs ints); float ids
    only when whole, since truncating 10.9 to 10 would give item 10 another item's row."""
    if np.issubdtype(np.asarray(item_ids).dtype, np.integer) and not np.issubdtype(
        ids.dtype, np.integer
    ):
        if np.issubdtype(ids.dtype, np.floating) and not np.all(np.isfinite(ids) & (ids % 1 == 0)):
            bad = ids[~(np.isfinite(ids) & (ids % 1 == 0))][:5].tolist()
            raise DataError(
                f"item ids that are not whole numbers, e.g. {bad}",
                path=path,
                hint="save the catalogue's item ids themselves (integers or strings)",
            )
        try:
            return ids.astype(np.int64)
        except (TypeError, ValueError):
            return ids
    if np.asarray(item_ids).dtype == object and np.issubdtype(ids.dtype, np.integer):
        if all(isinstance(i, str) for i in item_ids[:10].tolist()):
            return ids.astype(str).astype(object)
    return ids
