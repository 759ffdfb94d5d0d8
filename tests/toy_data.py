"""A small synthetic catalogue with community structure, written as CSV for CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_toy_dataset(folder: Path, n_users: int = 60, n_items: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        half = np.arange(n_items // 2) if u % 2 == 0 else np.arange(n_items // 2, n_items)
        for t, i in enumerate(rng.choice(half, 10, replace=False)):
            rows.append((f"u{u}", f"i{i}", int(rng.integers(1, 6)), 1_000 * u + t))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "interactions.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(
        path, index=False
    )
    return path


def toy_config(folder: Path, model: str = "mf-bpr", **extra: object) -> Path:
    import yaml

    path = write_toy_dataset(folder / "data")
    cfg = {
        "name": f"toy-{model}",
        "dataset": {"name": "toy", "path": str(path)},
        "model": {"name": model},
        "train": {"epochs": 5, "lr": 0.01, "batch_size": 128, "patience": 5},
        "evaluate": {"ks": [5, 10]},
        "output_dir": str(folder / "runs"),
        **extra,
    }
    out = folder / "config.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def write_toy_features(folder: Path, n_items: int = 40) -> dict[str, str]:
    """Pre-computed text and image vectors (``.npz``, keyed by item id) that follow the toy
    data's two communities (the two halves of the items); 15 % of the images are missing."""
    rng = np.random.default_rng(0)
    ids = np.array([f"i{i}" for i in range(n_items)])
    side = (np.arange(n_items) >= n_items // 2).astype(int)
    paths = {}
    for name, dim in (("text", 8), ("image", 6)):
        centroids = rng.normal(size=(2, dim)) * 2
        matrix = (centroids[side] + rng.normal(size=(n_items, dim))).astype(np.float32)
        mask = np.ones(n_items, dtype=bool)
        if name == "image":
            mask[rng.choice(n_items, round(0.15 * n_items), replace=False)] = False
            matrix[~mask] = 0.0
        path = folder / f"{name}.npz"
        np.savez(path, features=matrix, mask=mask, item_id=ids)
        paths[name] = str(path)
    return paths
