"""Raw-content coverage: how many items have each kind of content, before any encoding."""

from __future__ import annotations

import pandas as pd

from fusionrec.data.dataset import Dataset
from fusionrec.data.files import existing_files


def content_coverage(dataset: Dataset) -> dict[str, dict[str, int]]:
    """Per text field, image and audio column: items with usable content vs missing."""
    out: dict[str, dict[str, int]] = {}
    n = dataset.n_items
    for col in dataset.text_fields:
        values = dataset.items[col]
        present = int((values.notna() & (values.astype(str).str.strip() != "")).sum())
        out[f"text:{col}"] = {"present": present, "missing": n - present, "total": n}
    for kind, col in (("image", dataset.image_column), ("audio", dataset.audio_column)):
        if col:
            paths = dataset.items[col]
            present = sum(existing_files([str(p) for p in paths if not pd.isna(p)]))
            out[kind] = {"present": present, "missing": n - present, "total": n}
    return out
