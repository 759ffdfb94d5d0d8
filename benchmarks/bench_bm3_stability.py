"""BM3's validation trajectory on movielens-100k-mm: where it peaks and how it degrades.

BM3 has no negatives; its bootstrap objective (predictor + dropout targets + stop-gradient)
can drift toward a collapsed space. This script trains BM3 for a fixed number of epochs
with no early stopping and records validation Recall@20 every two epochs, for the default
setting and for variants that isolate the cause: the multimodal losses off or weaker
(``cl_weight``), and z-scored input features (``standardize_features``).

    python benchmarks/bench_bm3_stability.py [--epochs 30] [--threads 1]
"""

from __future__ import annotations

import argparse

import torch

from common import RESULTS, header, write_result
from fusionrec.config import TrainConfig
from fusionrec.data import load_dataset, make_split
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.encoders import build_item_features
from fusionrec.evaluate import Evaluator
from fusionrec.models.base import TrainData, build_model
from fusionrec.train.trainer import train_model

SEED = 2026
VARIANTS: list[tuple[str, dict]] = [
    ("defaults", {}),
    ("multimodal losses off (cl_weight 0)", {"cl_weight": 0.0}),
    ("cl_weight 0.5", {"cl_weight": 0.5}),
    ("cl_weight 0.1", {"cl_weight": 0.1}),
    ("standardised features", {"standardize_features": True}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset("movielens-100k-mm")
    feats = build_item_features(ds, modalities=["text", "image"], progress=False)
    split = make_split(ds, "random", ratios=(0.8, 0.1, 0.1), seed=SEED)
    train, valid, _ = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    data = TrainData(ds.n_users, ds.n_items, train, feats)
    evaluator = Evaluator(valid, train, ks=(20,))
    cfg = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=2048, patience=args.epochs,
                      eval_every=2, seed=SEED, device="cpu", threads=args.threads)  # fmt: skip
    rows = []
    for label, params in VARIANTS:
        torch.manual_seed(SEED)
        model = build_model("bm3", data, params)
        res = train_model(model, data, evaluator, cfg, progress=False)
        curve = [h["valid_recall@20"] for h in res.history if "valid_recall@20" in h]
        rows.append(
            f"| {label} | {res.best_valid['recall@20']:.4f} | {res.best_epoch} | {curve[-1]:.4f} "
            f"| {' '.join(f'{x:.3f}' for x in curve)} |"
        )
        print(rows[-1], flush=True)
    text = header("BM3 stability on movielens-100k-mm")
    text += (
        f"- random 8:1:1 split (seed {SEED}); Adam lr {args.lr}, batch 2048, {args.epochs} "
        "epochs, no early stopping; validation Recall@20 every 2 epochs\n\n"
        "| setting | best valid R@20 | best epoch | last valid R@20 | valid R@20 every 2 "
        "epochs |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    write_result(RESULTS / "bm3_stability.md", text)
    print(text)


if __name__ == "__main__":
    main()
