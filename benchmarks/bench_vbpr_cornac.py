"""fusionrec's VBPR side by side with Cornac's VBPR, same split, same image features, the same
tuning budget.

Both models get the canonical movielens-100k-mm split file (``split-8-1-1.inter``, the one
other toolkits are run on) and the same EfficientNet-Lite0 poster features (1280-d, from
fusionrec's feature store), 64 id + 64 content factors, batch 2048, each library's default
regularisation, and are scored by the same evaluator (full ranking, train masked for
validation, train + valid masked for test).

Tuning, equal for both: the learning rate from ``LRS`` and the number of epochs, chosen on
validation Recall@20 with the first seed. fusionrec picks its epoch by early stopping
(patience 20, at most 300 epochs); Cornac has no early stopping, so each learning rate is
trained for every count in ``CORNAC_EPOCHS`` and the best on validation is kept. The chosen
setting of each is then trained with every seed and test is scored once per seed: mean ±
sample std.

Speed is measured apart from the search: after it, each side trains ``--time-epochs`` epochs
of its chosen setting, one after the other in this process with the same thread count
(seconds and CPU seconds per epoch). Every search and seed run is cached in ``--runs`` (for
the commit it ran at), so the hour of training may share the machine (``--quality-only``
trains and writes nothing) and a second run, on a quiet machine, only times.

Needs the optional benchmark dependency: ``pip install -e '.[bench]'`` (cornac).

    python benchmarks/bench_vbpr_cornac.py [--threads 1] [--runs runs/bench-vbpr-cornac]
        [--quality-only] [--time-epochs 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import RESULTS, head_commit, header, mean_std, write_result
from fusionrec.config import validate_config
from fusionrec.data.features import ItemFeatures
from fusionrec.evaluate import Evaluator
from fusionrec.io import read_json, write_json
from fusionrec.train.experiment import prepare, run_seed

LRS = (1e-3, 5e-3)
#: up to fusionrec's own cap (300 epochs), so neither side's budget is the shorter
CORNAC_EPOCHS = (20, 40, 80, 160, 300)
SEEDS = (1, 2, 3)
SHOWN = ("recall@10", "recall@20", "ndcg@20")


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


def fit_cornac(
    prep, image: np.ndarray, lr: float, epochs: int, seed: int
) -> tuple[Any, dict[str, float]]:
    """A fitted Cornac VBPR on the training part (all-item scores) and its seconds and CPU
    seconds per epoch."""
    import cornac
    from cornac.data import ImageModality

    ds, split = prep.dataset, prep.split
    users, items = split.pairs(ds, 0)
    triplets = [(str(u), str(i), 1.0) for u, i in zip(users, items, strict=True)]
    train_set = cornac.data.Dataset.from_uir(triplets, seed=seed)
    modality = ImageModality(features=image, ids=[str(i) for i in range(ds.n_items)])
    modality.build(id_map=train_set.iid_map)
    train_set.add_modalities(item_image=modality)
    model = cornac.models.VBPR(
        k=64,
        k2=64,
        n_epochs=epochs,
        batch_size=2048,
        learning_rate=lr,
        use_gpu=False,
        seed=seed,
        verbose=False,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(train_set)
    timing = {
        "s_epoch": (time.perf_counter() - t0) / epochs,
        "cpu_s_epoch": (time.process_time() - c0) / epochs,
    }
    return cornac_scores(model, train_set, ds.n_users, ds.n_items, ds), timing


class FitCache:
    """Every search and seed run's validation (and test) scores in ``<runs>/fits.json``, for
    the commit they ran at: runs of other code are trained again, not mixed in."""

    def __init__(self, runs: Path) -> None:
        self.path = runs / "fits.json"
        self.commit = head_commit()
        saved = read_json(self.path) if self.path.exists() else {}
        if saved and saved.get("commit") != self.commit:
            print(f"{self.path}: runs of {saved.get('commit')}, not {self.commit}: trained anew")
            saved = {}
        self.fits: dict[str, dict[str, Any]] = saved.get("fits", {})

    def get(self, key: str, fit: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key not in self.fits:
            self.fits[key] = fit()
            write_json(self.path, {"commit": self.commit, "fits": self.fits})
        return self.fits[key]


def choose_then_seed(
    grid: list[dict[str, Any]], seed_run: Callable[[dict[str, Any], int], dict[str, Any]]
) -> dict[str, Any]:
    """The setting of ``grid`` with the best validation Recall@20, trained with every seed
    (``seed_run``; test is scored there, once per seed)."""
    best = max(grid, key=lambda r: r["valid"]["recall@20"])
    return {"grid": grid, "chosen": best, "seeds": [seed_run(best, seed) for seed in SEEDS]}


def run_cornac(prep, image: np.ndarray, valid_eval, test_eval, cache: FitCache) -> dict:
    """Grid on the first seed's validation, then the chosen setting with every seed."""

    def fit(lr: float, epochs: int, seed: int, test: bool) -> dict[str, Any]:
        scores, _ = fit_cornac(prep, image, lr, epochs, seed)
        out = {"lr": lr, "epochs": epochs, "valid": valid_eval.evaluate(lambda u: scores[u])}
        if test:
            out["test"] = test_eval.evaluate(lambda u: scores[u])
        return out

    grid = []
    for lr in LRS:
        for epochs in CORNAC_EPOCHS:
            key = f"cornac lr={lr} epochs={epochs} seed={SEEDS[0]} search"
            grid.append(cache.get(key, lambda lr=lr, e=epochs: fit(lr, e, SEEDS[0], False)))
            print(f"{key}: valid R@20 {grid[-1]['valid']['recall@20']:.4f}", flush=True)

    def seed_run(best: dict[str, Any], seed: int) -> dict[str, Any]:
        key = f"cornac lr={best['lr']} epochs={best['epochs']} seed={seed} test"
        return cache.get(key, lambda: fit(best["lr"], best["epochs"], seed, True))

    return choose_then_seed(grid, seed_run)


def with_lr(cfg, lr: float, **train: Any):
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"lr": lr, **train})})


def run_ours(cfg, prep, cache: FitCache) -> dict[str, Any]:
    """Learning rate on the first seed's validation (early stopping picks the epoch), then
    the chosen one with every seed."""

    def fit(lr: float, seed: int, test: bool) -> dict[str, Any]:
        r = run_seed(with_lr(cfg, lr), prep, seed, None, progress=False, evaluate_test=test)
        return {
            "lr": lr,
            "epochs": r["best_epoch"],
            **{k: r[k] for k in ("valid", "test") if k in r},
        }

    grid = []
    for lr in LRS:
        key = f"fusionrec lr={lr} seed={SEEDS[0]} search"
        grid.append(cache.get(key, lambda lr=lr: fit(lr, SEEDS[0], False)))
        valid = grid[-1]["valid"]["recall@20"]
        print(f"{key}: valid R@20 {valid:.4f} at epoch {grid[-1]['epochs']}", flush=True)

    def seed_run(best: dict[str, Any], seed: int) -> dict[str, Any]:
        key = f"fusionrec lr={best['lr']} seed={seed} test"
        return cache.get(key, lambda: fit(best["lr"], seed, True))

    return choose_then_seed(grid, seed_run)


def time_both(cfg, prep, image: np.ndarray, ours: dict, theirs: dict, epochs: int) -> dict:
    """Seconds and CPU seconds per training epoch of each side's chosen setting, ``epochs``
    epochs each, one after the other (no evaluation counted on either side)."""
    lr = ours["chosen"]["lr"]
    run = with_lr(cfg, lr, epochs=epochs, patience=epochs)
    r = run_seed(run, prep, SEEDS[0], None, progress=False, evaluate_test=False)
    mine = {"s_epoch": r["seconds_per_epoch"], "cpu_s_epoch": r["cpu_seconds_per_epoch"]}
    _, cornacs = fit_cornac(prep, image, theirs["chosen"]["lr"], epochs, SEEDS[0])
    return {"fusionrec VBPR": mine, "Cornac VBPR": cornacs}


def summary(seeds: list[dict[str, Any]], part: str, metric: str) -> str:
    mean, std = mean_std([s[part][metric] for s in seeds])
    return f"{mean:.4f} ± {std:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "vbpr_vs_cornac.md")
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-vbpr-cornac"))
    ap.add_argument(
        "--quality-only",
        action="store_true",
        help="train and cache the searches and seeds only (they may share the machine); "
        "time and write on a quiet machine later",
    )
    ap.add_argument("--time-epochs", type=int, default=20, help="epochs each side is timed")
    args = ap.parse_args()
    if args.time_epochs < 1:
        ap.error("--time-epochs must be at least 1")
    torch.set_num_threads(args.threads)
    base = {
        "name": "vbpr-cornac",
        "dataset": {"name": "movielens-100k-mm"},
        "split": {
            "method": "predefined",
            "path": "../shared/data/movielens-100k-mm/split-8-1-1.inter",
        },
        "model": {"name": "vbpr", "params": {"embedding_size": 64}},
        "features": {"modalities": ["image"]},
        "train": {
            "epochs": 300,
            "lr": LRS[0],
            "batch_size": 2048,
            "patience": 20,
            "threads": args.threads,
        },
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

    cache = FitCache(args.runs)
    ours = run_ours(cfg, prep, cache)
    torch.set_num_threads(args.threads)  # Cornac trains with torch too
    theirs = run_cornac(prep, image.matrix, valid_eval, test_eval, cache)
    if args.quality_only:
        print(f"searches and seeds cached in {cache.path}; nothing timed or written")
        return
    timing = time_both(cfg, prep, image.matrix, ours, theirs, args.time_epochs)

    cols = " | ".join(f"test {k}" for k in SHOWN)
    rows = [
        f"| implementation | chosen on validation | valid recall@20 | {cols} | s/epoch | "
        "CPU s/epoch |",
        "|---|---|---|" + "---|" * len(SHOWN) + "---|---|",
    ]
    for name, res, setting in (
        (
            "fusionrec VBPR",
            ours,
            f"lr {ours['chosen']['lr']:g}, early stopping "
            f"(best epochs {[s['epochs'] for s in ours['seeds']]})",
        ),
        (
            "Cornac VBPR",
            theirs,
            f"lr {theirs['chosen']['lr']:g}, {theirs['chosen']['epochs']} epochs",
        ),
    ):
        rows.append(
            f"| {name} | {setting} | {summary(res['seeds'], 'valid', 'recall@20')} | "
            + " | ".join(summary(res["seeds"], "test", k) for k in SHOWN)
            + f" | {timing[name]['s_epoch']:.3f} | {timing[name]['cpu_s_epoch']:.3f} |"
        )
    grid = ["Validation Recall@20 of every setting tried (first seed; test not scored):", ""]
    grid += [
        f"- fusionrec lr {g['lr']:g}: {g['valid']['recall@20']:.4f} (best epoch {g['epochs']})"
        for g in ours["grid"]
    ]
    grid += [
        f"- Cornac lr {g['lr']:g}, {g['epochs']} epochs: {g['valid']['recall@20']:.4f}"
        for g in theirs["grid"]
    ]
    import cornac

    edge = theirs["chosen"]["epochs"] == max(CORNAC_EPOCHS)
    text = (
        header("VBPR: fusionrec vs Cornac")
        + f"- cornac {cornac.__version__}; torch threads {args.threads}; split: canonical "
        f"`split-8-1-1.inter`; seeds {list(SEEDS)}, mean ± sample std (ddof=1)\n"
        f"- speed: each side's chosen setting trained {args.time_epochs} epochs, one after the "
        "other in one process (training only: fusionrec's epochs as its trainer times them, "
        "Cornac's fit divided by its epochs; the searches and seeds are cached in "
        f"`{cache.path}` and may have run on a busy machine)\n"
        f"- tuning: learning rate in {list(LRS)} for both; fusionrec's epoch by early stopping "
        f"(patience 20, <= 300), Cornac's from {list(CORNAC_EPOCHS)}; each library's default "
        "regularisation\n"
        + (
            f"- Cornac's chosen epoch count is the grid's largest ({max(CORNAC_EPOCHS)}): it "
            "might score higher with more\n"
            if edge
            else ""
        )
        + "\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(grid)
        + "\n"
    )
    write_result(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
