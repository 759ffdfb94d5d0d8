"""fusionrec's VBPR side by side with Cornac's VBPR, same split, same image features.

Both models get the movielens-100k-mm random 8:1:1 split (seed 2026) and the same
EfficientNet-Lite0 poster features (1280-d, from fusionrec's feature store), 64 id + 64
content factors, batch 2048, and are scored by the same evaluator (full ranking, train +
valid masked, test once). fusionrec selects its epoch by early stopping on validation
Recall@20; Cornac has no early stopping, so its learning rate and number of epochs are picked
on validation from a small grid. Seconds per epoch are measured in this one process, one
after the other, with the same thread count.

Needs the optional benchmark dependency: ``pip install -e '.[bench]'`` (cornac).

    python benchmarks/bench_vbpr_cornac.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import RESULTS, header, write_result
from fusionrec.config import validate_config
from fusionrec.data.features import ItemFeatures
from fusionrec.evaluate import Evaluator
from fusionrec.train.experiment import prepare, run_seed

CORNAC_GRID = [(lr, epochs) for lr in (1e-3, 5e-3) for epochs in (20, 40)]


def cornac_scores(model, train_set, n_users: int, n_items: int, ds) -> torch.Tensor:
    """All-item scores in fusionrec's index order (items Cornac never saw score -inf)."""
    user_map = np.full(n_users, -1)
    for raw, idx in train_set.uid_map.items():
        user_map[int(raw)] = idx
    item_cols = np.full(n_items, -1)
    for raw, idx in train_set.iid_map.items():
        item_cols[int(raw)] = idx
    scores = torch.full((n_users, n_items), -torch.inf)
    known = item_cols >= 0
    for u in np.flatnonzero(user_map >= 0):
        s = model.score(user_map[u])
        scores[u, known] = torch.from_numpy(np.asarray(s, dtype=np.float32)[item_cols[known]])
    return scores


def run_cornac(prep, image: np.ndarray, valid_eval, test_eval):
    import cornac
    from cornac.data import ImageModality

    ds, split = prep.dataset, prep.split
    users, items = split.pairs(ds, 0)
    triplets = [(str(u), str(i), 1.0) for u, i in zip(users, items, strict=True)]
    results = []
    for lr, epochs in CORNAC_GRID:
        train_set = cornac.data.Dataset.from_uir(triplets, seed=2026)
        modality = ImageModality(features=image, ids=[str(i) for i in range(ds.n_items)])
        modality.build(id_map=train_set.iid_map)
        train_set.add_modalities(item_image=modality)
        model = cornac.models.VBPR(
            k=64,
            k2=64,
            n_epochs=epochs,
            batch_size=2048,
            learning_rate=lr,
            lambda_w=0.01,
            lambda_b=0.01,
            use_gpu=False,
            seed=2026,
            verbose=False,
        )
        t0 = time.perf_counter()
        model.fit(train_set)
        seconds = (time.perf_counter() - t0) / epochs
        scores = cornac_scores(model, train_set, ds.n_users, ds.n_items, ds)
        valid = valid_eval.evaluate(lambda u, s=scores: s[u])
        results.append(
            {"lr": lr, "epochs": epochs, "s_epoch": seconds, "valid": valid, "scores": scores}
        )
        print(
            f"cornac lr={lr} epochs={epochs}: valid R@20 {valid['recall@20']:.4f}, "
            f"{seconds:.3f} s/epoch",
            flush=True,
        )
    best = max(results, key=lambda r: r["valid"]["recall@20"])
    best["test"] = test_eval.evaluate(lambda u: best["scores"][u])
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "vbpr_vs_cornac.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = {
        "name": "vbpr-cornac",
        "dataset": {"name": "movielens-100k-mm"},
        "split": {"method": "random", "seed": 2026},
        "model": {"name": "vbpr", "params": {"embedding_size": 64}},
        "features": {"modalities": ["image"]},
        "train": {"epochs": 300, "lr": 1e-3, "batch_size": 2048, "patience": 20},
        "evaluate": {"ks": [10, 20]},
    }
    cfg = validate_config(base)
    prep = prepare(cfg, progress=False)
    image = prep.features["image"]
    prep.features = ItemFeatures(prep.dataset.n_items, {"image": image})
    ds, split = prep.dataset, prep.split
    train, valid, test = (split.matrix(ds, p) for p in (0, 1, 2))
    valid_eval = Evaluator(valid, train, ks=[10, 20])
    test_eval = Evaluator(test, train + valid, ks=[10, 20])

    t0 = time.perf_counter()
    ours = run_seed(cfg, prep, 2026, None, progress=False)
    ours_wall = time.perf_counter() - t0
    print(
        f"fusionrec VBPR: valid R@20 {ours['valid']['recall@20']:.4f}, "
        f"{ours['seconds_per_epoch']:.3f} s/epoch",
        flush=True,
    )
    theirs = run_cornac(prep, image.matrix, valid_eval, test_eval)

    rows = [
        "| implementation | setting | valid R@20 | test R@10 | test R@20 | test N@20 | s/epoch |",
        "|---|---|---|---|---|---|---|",
        f"| fusionrec VBPR | lr 1e-3, early stop at epoch {ours['best_epoch']} | "
        f"{ours['valid']['recall@20']:.4f} | {ours['test']['recall@10']:.4f} | "
        f"{ours['test']['recall@20']:.4f} | {ours['test']['ndcg@20']:.4f} | "
        f"{ours['seconds_per_epoch']:.3f} |",
        f"| Cornac VBPR | lr {theirs['lr']}, {theirs['epochs']} epochs (best on valid) | "
        f"{theirs['valid']['recall@20']:.4f} | {theirs['test']['recall@10']:.4f} | "
        f"{theirs['test']['recall@20']:.4f} | {theirs['test']['ndcg@20']:.4f} | "
        f"{theirs['s_epoch']:.3f} |",
    ]
    import cornac

    text = (
        header("VBPR: fusionrec vs Cornac")
        + f"- cornac {cornac.__version__}; torch threads {args.threads}; "
        f"fusionrec total wall time {ours_wall:.0f} s\n\n" + "\n".join(rows) + "\n"
    )
    write_result(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
