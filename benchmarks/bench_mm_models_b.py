"""Quality/speed benchmark of the multimodal models (MGCN, SMORE, mtl-fusion, adv-fusion,
content-knn) against LightGCN on movielens-100k-mm, plus the cold-start and missing-modality
reports, one seed each: an exploration tool. The claims live elsewhere: the tuned multi-seed
model comparison in ``bench_movielens.py``, cold start over five splits in
``bench_cold_start.py``; this script's ``completion`` section writes
``benchmarks/results/adv_completion.md``:

    python benchmarks/bench_mm_models_b.py --sections completion --epochs 50 --lr 5e-3 \
        --patience 3 --eval-every 2 --threads 1 --out benchmarks/results/adv_completion.md

Protocol: random per-user 8:1:1 split (seed 2026), full ranking, early stopping on validation
Recall@20, test scored once at the best validation epoch. Features: the encoders package
(text = all-MiniLM-L6-v2 on title/genres/overview, image = EfficientNet-Lite0 on posters).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

import fusionrec.models.adversarial  # noqa: F401  (register the models of this benchmark)
import fusionrec.models.content_knn  # noqa: F401
import fusionrec.models.mgcn  # noqa: F401
import fusionrec.models.multitask  # noqa: F401
import fusionrec.models.smore  # noqa: F401
from common import header, write_result
from fusionrec.config import TrainConfig
from fusionrec.data import load_dataset, make_split
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.evaluate import Evaluator
from fusionrec.evaluate.cold_start import expected_random_metrics
from fusionrec.models.adversarial import completion_quality, hide_modality
from fusionrec.models.base import TrainData, build_model
from fusionrec.train.cold_start import cold_start_protocol
from fusionrec.train.experiment import item_labels
from fusionrec.train.trainer import evaluate_model, train_model

DATASET = "movielens-100k-mm"
SEED = 2026
OUT = Path(__file__).parent / "results" / "mm_models_b.md"

WARM_MODELS: list[tuple[str, str, dict]] = [
    ("lightgcn", "lightgcn", {}),
    ("content-knn", "content-knn", {}),
    ("mgcn", "mgcn", {}),
    ("smore", "smore", {}),
    ("mtl-fusion (fixed)", "mtl-fusion", {}),
    ("mtl-fusion (uncertainty)", "mtl-fusion", {"weighting": "uncertainty"}),
    ("adv-fusion", "adv-fusion", {}),
]
COLD_MODELS: list[tuple[str, str, dict]] = [
    ("lightgcn", "lightgcn", {}),
    ("mgcn", "mgcn", {}),
    ("smore", "smore", {}),
    ("mtl-fusion (fixed)", "mtl-fusion", {}),
    ("mtl-fusion (id dropout 0.5)", "mtl-fusion", {"id_dropout": 0.5}),
    ("adv-fusion", "adv-fusion", {}),
    ("adv-fusion (align 0.05)", "adv-fusion", {"align_weight": 0.05}),
]
#: (label, adv-fusion params) of the missing-modality section, each run with and without
#: completion
COMPLETION_SETTINGS: list[tuple[str, dict]] = [
    ("defaults", {}),
    ("standardised features, align 0.05", {"standardize_features": True, "align_weight": 0.05}),
]


def load_features(ds):
    from fusionrec.encoders import build_item_features

    return build_item_features(ds, modalities=["text", "image"], progress=False)


def train_cfg(args) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=2048, patience=args.patience,
        eval_every=args.eval_every, seed=SEED, device="cpu", threads=args.threads,
    )  # fmt: skip


def run(name: str, params: dict, data: TrainData, valid: Evaluator, test: Evaluator, args):
    torch.manual_seed(SEED)
    model = build_model(name, data, params)
    t0 = time.perf_counter()
    result = train_model(model, data, valid, train_cfg(args), progress=False)
    wall = time.perf_counter() - t0
    test_m = evaluate_model(model, test)
    return model, result, test_m, wall


def fmt(x: float) -> str:
    return f"{x:.4f}"


def warm_section(ds, feats, args) -> list[str]:
    split = make_split(ds, "random", ratios=(0.8, 0.1, 0.1), seed=SEED)
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    data = TrainData(ds.n_users, ds.n_items, train, feats, item_labels(ds))
    v_eval = Evaluator(valid, train, ks=(10, 20))
    t_eval = Evaluator(test, train + valid, ks=(10, 20))
    lines = [
        "## Warm items: random 8:1:1 split (seed 2026)",
        "",
        "| model | valid R@20 | valid N@20 | test R@20 | test N@20 | sec/epoch | epochs (best) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, name, params in WARM_MODELS:
        _, res, tm, _ = run(name, params, data, v_eval, t_eval, args)
        bv = res.best_valid
        row = (f"| {label} | {fmt(bv['recall@20'])} | {fmt(bv['ndcg@20'])} | "
               f"{fmt(tm['recall@20'])} | {fmt(tm['ndcg@20'])} | {res.seconds_per_epoch:.2f} | "
               f"{res.epochs_run} ({res.best_epoch}) |")  # fmt: skip
        print(row, flush=True)
        lines.append(row)
    return lines


def cold_section(ds, feats, args) -> list[str]:
    split = make_split(ds, "cold-items", cold_fraction=0.2, seed=SEED)
    proto = cold_start_protocol(ds, split, ks=(10, 20))
    data = TrainData(ds.n_users, ds.n_items, proto.train, feats, item_labels(ds))
    rand = expected_random_metrics(proto.test)
    base = rand["recall@20"]
    lines = [
        "## Cold items: 20% of items withheld (seed 2026), ranked only among themselves",
        "",
        f"valid cold items {len(proto.valid_items)}, test cold items {len(proto.test_items)}, "
        f"test users {int(proto.test.n_users)}. Random = exact expectation.",
        "",
        "| model | test R@20 | test N@20 | x random (R@20) | valid R@20 |",
        "|---|---|---|---|---|",
        f"| random | {fmt(base)} | {fmt(rand['ndcg@20'])} | 1.00 | - |",
    ]
    knn = build_model("content-knn", data, {})
    knn.eval()
    km, kv = proto.test.evaluate(knn.score), proto.valid.evaluate(knn.score)
    lines.append(f"| content-knn | {fmt(km['recall@20'])} | {fmt(km['ndcg@20'])} | "
                 f"{km['recall@20'] / base:.2f} | {fmt(kv['recall@20'])} |")  # fmt: skip
    print(lines[-2], lines[-1], sep="\n", flush=True)
    for label, name, params in COLD_MODELS:
        _, res, tm, _ = run(name, params, data, proto.valid, proto.test, args)
        row = (f"| {label} | {fmt(tm['recall@20'])} | {fmt(tm['ndcg@20'])} | "
               f"{tm['recall@20'] / base:.2f} | {fmt(res.best_valid['recall@20'])} |")  # fmt: skip
        print(row, flush=True)
        lines.append(row)
    return lines


def completion_section(ds, feats, args) -> list[str]:
    split = make_split(ds, "random", ratios=(0.8, 0.1, 0.1), seed=SEED)
    train, valid, test = (split.matrix(ds, p) for p in (TRAIN, VALID, TEST))
    rng = np.random.default_rng(SEED)
    both = np.flatnonzero(feats["text"].mask & feats["image"].mask)
    held = np.sort(rng.choice(both, size=int(0.3 * len(both)), replace=False))
    hidden = hide_modality(feats, held, "image")
    data = TrainData(ds.n_users, ds.n_items, train, hidden, item_labels(ds))
    v_eval = Evaluator(valid, train, ks=(10, 20))
    t_eval = Evaluator(test, train + valid, ks=(10, 20))
    lines = [
        "## Missing modality: posters hidden for 30% of items",
        "",
        f"{len(held)} items lose their image; adv-fusion's generator fills the image embedding "
        "from the text one. Fill-in quality is measured in the shared space against the true "
        "(hidden) poster passed through the trained image encoder; baseline = mean image "
        "embedding. Rank = rank of the true item among the held-out items (mean baseline "
        f"≈ {(len(held) + 1) / 2:.0f}).",
        "",
        "| setting | complete_missing | test R@20 | test N@20 | valid R@20 | cos gen | cos mean "
        "| rank gen | rank mean | hit@10 gen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, params in COMPLETION_SETTINGS:
        for flag in (True, False):
            model, res, tm, _ = run("adv-fusion", {**params, "complete_missing": flag}, data,
                                    v_eval, t_eval, args)  # fmt: skip
            rep = completion_quality(model, feats, held, "image")
            row = (f"| {label} | {flag} | {fmt(tm['recall@20'])} | {fmt(tm['ndcg@20'])} | "
                   f"{fmt(res.best_valid['recall@20'])} | {rep.cosine_generated:.3f} | "
                   f"{rep.cosine_mean:.3f} | {rep.rank_generated:.1f} | {rep.rank_mean:.1f} | "
                   f"{rep.hit10_generated:.3f} |")  # fmt: skip
            print(row, flush=True)
            lines.append(row)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sections", default="warm,cold,completion")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--only", default="", help="comma-separated model labels to run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # the header's machine line reports this count
    if args.only:
        keep = set(args.only.split(","))
        WARM_MODELS[:] = [m for m in WARM_MODELS if m[0] in keep]
        COLD_MODELS[:] = [m for m in COLD_MODELS if m[0] in keep]
    logging.basicConfig(level=logging.WARNING)
    ds = load_dataset(DATASET)
    feats = load_features(ds)
    top = [
        header("Multimodal models (set B) on movielens-100k-mm"),
        f"Trainer: Adam lr {args.lr}, batch 2048, 1 negative, up to {args.epochs} epochs, "
        f"validation every {args.eval_every} epochs, patience {args.patience} evaluations, "
        f"CPU ({args.threads} threads, shared machine: sec/epoch is indicative only).",
        "Features: " + ", ".join(f"{m.name} {m.dim}-d ({m.coverage:.1%})" for m in feats),
        "",
    ]
    sections = {"warm": warm_section, "cold": cold_section, "completion": completion_section}
    body: list[str] = []
    asked = args.sections.split(",")
    for done, key in enumerate(asked, start=1):
        body += sections[key](ds, feats, args) + [""]
        status = f"Sections: {', '.join(asked[:done])} of {', '.join(asked)}" + (
            "" if done == len(asked) else " (INCOMPLETE: the run stopped or is still running)"
        )
        write_result(Path(args.out), "\n".join([*top, status, "", *body]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
