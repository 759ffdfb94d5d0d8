"""Sequential recommendation on movielens-100k-mm, side by side with RecBole.

Protocol (issue 11): leave-one-out split (each user's last rating is test, the one before
validation; equal timestamps keep file order), full ranking over all items, three seeds,
mean ± sample std of Recall/NDCG/Hit/MRR @10/@20. Every model early-stops on validation
NDCG@10 and scores test once with its best weights; sequential models predict test from the
user's training + validation history.

Tables:
1. fusionrec's MostPopular, LightGCN, GRU4Rec, SASRec and MM-SASRec (item text + poster
   features as a prior the id embeddings are pulled towards: of the content settings probed,
   the best on validation), training items masked (fusionrec's default); MM-SASRec against
   SASRec paired over the test users, overall and by the training ratings of each user's
   held-out item (content should pay on the rarely rated ones).
2. fusionrec's SASRec and GRU4Rec against RecBole 1.2.1's on the identical split and
   histories (pre-augmented benchmark files written from fusionrec's own sequences), both
   with nothing masked: RecBole's sequential evaluation masks nothing, so fusionrec runs
   with ``evaluate.repeat: true`` there. Same model settings both sides (d 64, 2 blocks,
   2 heads, inner 256, dropout 0.5, max length 50, lr 1e-3, CE loss; fusionrec's SASRec
   with RecBole's own post-norm block, ``block: bert``, which led the paper's block on
   validation with nothing masked, ``SIDE_MODELS``). RecBole trains one
   example per next item (its data augmentation, batch 2048); fusionrec reads windows of 50
   items that overlap by half and scores each window's last 25 positions (``window_stride``
   25, chosen on validation), so every target is predicted from at least 25 earlier items
   where the user has them: the same targets per epoch on every side, and in batches of as
   many targets as RecBole's (91 windows here; ``side_by_side_config``), so the same number
   of optimiser steps an epoch; seconds per training epoch for both. Each fusionrec model is
   paired with RecBole's over the test users (each user's NDCG@10 averaged over each side's
   seeds; RecBole's per-user scores come from its own ranking, checked to average to what it
   reports), since a few thousandths between two means of three seeds is within seed noise.
Cold-start items (id-free MM-SASRec on withheld movies) are ``bench_cold_start.py``'s, beside
the other content-aware models on the same five cold splits.

``--dataset movielens-latest-small-mm`` runs table 1 alone on the sparse catalogue (its
ratings in time order, leave-one-out; MM-SASRec with the content setting probed there,
``SPARSE_MODELS``) into ``runs/bench-sequential-sparse`` and ``sequential_sparse.md``.

    python benchmarks/bench_sequential.py [--epochs 200] [--seeds 3] [--threads 2]
        [--device auto] [--runs runs/bench-sequential] [--skip-recbole] [--collect]
        [--models sasrec,mmsasrec] [--jobs 1] [--out benchmarks/results/sequential.md]
        [--dataset movielens-latest-small-mm --features-from DIR] [--trials 20]
    python benchmarks/bench_sequential.py --time-epochs 5 [--device cuda]
        [--out benchmarks/results/sequential_speed.md]

``--trials N`` searches GRU4Rec, SASRec and MM-SASRec each over its shipped space with N trials
on validation NDCG@10, from the settings before any choice (``PROBE_BASE``), and trains each
chosen setting with every seed: the equal-budget comparison, chosen before test is read (the
fixed settings in ``MODELS`` came from probes of unequal size, one of them after a test
reading; README), written to ``sequential_tuned.md`` so the fixed settings' table with RecBole
stays. With ``--jobs`` each search is a unit of its own (``tuned/<model>``).
``--skip-recbole`` leaves out the side-by-side table with RecBole (and fusionrec's unmasked
runs, which only it shows): the masked table alone.

``--jobs N`` trains the study's independent units (each model of each table, each RecBole
seed) in N processes at once, then writes the tables from what they
left; their seconds per epoch are then measured on a shared machine, so ``--time-epochs``
times fusionrec's and RecBole's SASRec and GRU4Rec again, one run at a time.

Resumable: every fusionrec model trains in its own run directory under ``--runs``
(``<table>/<model>``) and a stopped run continues from its last epoch; a finished one is read
back, not retrained. RecBole runs are cached per (model, seed, epochs) in ``<runs>/recbole``,
and one stopped continues from its last validation (``recbole_runner``).
``--collect`` trains nothing and writes the file from the finished runs alone.

Cost, measured with ``--epochs 1 --seeds 1 --threads 1`` at d7cfe9a on the 2-core development
CPU while two single-thread benchmarks shared it (load 3): a training epoch of fusionrec's
SASRec takes 9 s, RecBole's 388 s (it encodes a 50-item window for each of the ~98k training
targets, where fusionrec reads each window once). At 50-100 epochs a run, RecBole's three
seeds are tens of CPU-hours: its side is GPU work (``--device cuda``); fusionrec's tables
are about six CPU-hours. ``--epochs 2 --seeds 1`` checks the script end to end.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from bench_sparse import SPEC as SPARSE_SPEC
from bench_sparse import popularity_groups
from common import RESULTS, header, mean_std, trial_code_note, write_result
from fusionrec.config import (
    EvaluateConfig,
    ExperimentConfig,
    TrainConfig,
    dump_config,
    load_config,
)
from fusionrec.data.split import TEST, VALID
from fusionrec.encoders.precomputed import exported_files
from fusionrec.io import read_json, write_json
from fusionrec.train.experiment import (
    Prepared,
    prepare,
    run_or_continue,
    scoring_history,
    train_data,
)
from fusionrec.train.rundir import RESULTS as FINISHED
from fusionrec.train.rundir import config_differences
from recbole_runner import TRAIN_BATCH, drop_stale, run_sequential, write_sequence_files

KS = (10, 20)
PATIENCE = 10
SHOWN = [f"{m}@{k}" for k in KS for m in ("recall", "ndcg", "hit", "mrr")]
SEQ = {"embedding_size": 64, "max_length": 50, "loss": "ce"}
SASREC = {**SEQ, "n_layers": 2, "n_heads": 2, "inner_size": 256, "dropout": 0.5,
          "attention_dropout": 0.5}  # fmt: skip
GRU4REC = {**SEQ, "hidden_size": 128, "n_layers": 1, "dropout": 0.3}
MMSASREC = {**SASREC, "fusion": "sum", "projector_hidden": 256}
#: model -> (params, train overrides); the sequential settings are RecBole's defaults
MODELS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "most-popular": ({}, {}),
    "lightgcn": ({"embedding_size": 64, "n_layers": 2, "reg_weight": 1e-4}, {"lr": 0.005}),
    # window training: batch_size counts windows of up to 50 targets; GRU4Rec's overlapping
    # windows were chosen on validation after the study's first run (0.1180 against 0.1105,
    # ahead on each of seeds 1-3; results/sequential_probes.md)
    "gru4rec": ({**GRU4REC, "window_stride": 25}, {"batch_size": 128}),
    # settings chosen on validation NDCG@10, seeds 1-3 (probe_sequential.py,
    # results/sequential_probes.md): SASRec window_stride 25 (0.1269 against 0.1225 for
    # windows that do not overlap); MM-SASRec the content prior with weight 0.03 and stride 25
    # (0.1296, against 0.1283 at weight 0.1, 0.1237 for gated content without overlap and
    # 0.1236 with it)
    "sasrec": ({**SASREC, "window_stride": 25}, {"batch_size": 128}),
    "mmsasrec": (
        {**MMSASREC, "content": "prior", "prior_weight": 0.03, "window_stride": 25},
        {"batch_size": 128},
    ),
}
#: the side-by-side table's settings where they differ from MODELS, chosen on validation
#: with nothing masked, as that table scores (``probe_sequential.py run --unmasked``,
#: results/sequential_probes.md): SASRec with RecBole's own post-norm block (``block:
#: bert``), validation NDCG@10 0.0692 over seeds 1-3 against 0.0650 for the paper's block
SIDE_MODELS = {"sasrec": {**MODELS["sasrec"][0], "block": "bert"}}
#: the sparse catalogue's own choices where they differ from MODELS: there gated content is
#: MM-SASRec's best setting on validation (NDCG@10 0.0812 over three seeds, against 0.0775
#: for the dense set's content prior and SASRec's 0.0769; sequential_probes.md)
#: GRU4Rec waits 30 epochs there, not 10: with 10 every seed stopped at epoch 15 in the dip
#: where validation falls as the model leaves the popularity ranking (best epoch 5, NDCG@10
#: 0.021, no better than MostPopular) though its loss still fell; a baseline given more
#: patience only makes the comparison harder for the multimodal model
SPARSE_MODELS = {
    **MODELS,
    "gru4rec": (GRU4REC, {"batch_size": 128, "patience": 30}),
    "mmsasrec": (MMSASREC, {"batch_size": 128}),
}
#: what a probe's ``--params`` change (``probe_sequential.py``): the settings above before
#: any choice made on validation, so a probe record means the same whatever is chosen later
PROBE_BASE = {"gru4rec": GRU4REC, "sasrec": SASREC, "mmsasrec": MMSASREC}
RECBOLE = {"sasrec": ("SASRec", {"n_layers": 2, "n_heads": 2, "hidden_size": 64,
                                 "inner_size": 256, "hidden_dropout_prob": 0.5,
                                 "attn_dropout_prob": 0.5, "loss_type": "CE"}),
           "gru4rec": ("GRU4Rec", {"embedding_size": 64, "hidden_size": 128, "num_layers": 1,
                                   "dropout_prob": 0.3, "loss_type": "CE"})}  # fmt: skip


DATASETS = ("movielens-100k-mm", "movielens-latest-small-mm")


def models_of(dataset: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each model's study settings on ``dataset`` (chosen on that dataset's validation)."""
    return MODELS if dataset == DATASETS[0] else SPARSE_MODELS


def dataset_section(name: str) -> dict[str, Any]:
    """The dense set is a built-in; the sparse one is read as ``sparse_study.yaml`` reads it
    (its leave-one-out split comes from the ratings' timestamps, not the study's split file)."""
    if name == DATASETS[0]:
        return {"name": name}
    return yaml.safe_load(SPARSE_SPEC.read_text())["dataset"]  # files, text fields, posters


def features_section(args: argparse.Namespace) -> dict[str, Any]:
    """Item text and posters, encoded (and cached), or with ``--features-from DIR`` read from
    ``DIR/text.npz`` and ``DIR/image.npz`` as ``fusionrec encode --export DIR`` wrote them
    (the same matrices and masks, for a machine without the encoder models)."""
    section: dict[str, Any] = {"modalities": ["text", "image"]}
    if getattr(args, "features_from", None):
        section["precomputed"] = exported_files(args.features_from, section["modalities"])
    return section


def make_config(
    args: argparse.Namespace,
    model: str,
    params: dict[str, Any] | None = None,
    batch_size: int | None = None,
    **extra: Any,
) -> ExperimentConfig:
    """``model``'s run in this study: the params chosen for it on the dataset
    (``models_of``), or ``params`` in their place (a probe's setting); ``batch_size`` in
    place of its own."""
    dataset = getattr(args, "dataset", DATASETS[0])
    chosen, train = models_of(dataset)[model]
    if batch_size is not None:
        train = {**train, "batch_size": batch_size}
    params = chosen if params is None else params
    if getattr(args, "window_stride", None) and "max_length" in params:
        params = {**params, "window_stride": args.window_stride}
    base = {
        "dataset": dataset_section(dataset),
        "split": {"method": "leave-one-out"},
        "seeds": list(range(1, args.seeds + 1)),
        "model": {"name": model, "params": params},
        "train": {
            "epochs": args.epochs,
            "lr": 1e-3,
            "batch_size": 2048,
            "patience": PATIENCE,
            "metric": "ndcg@10",
            "threads": args.threads,
            "device": args.device,
            **train,
        },  # fmt: skip
        "evaluate": {"ks": list(KS), **extra.pop("evaluate", {})},
        "features": features_section(args),
        **extra,
    }
    return load_config(base=base)


def side_by_side_config(args: argparse.Namespace, model: str, prep: Prepared) -> ExperimentConfig:
    """fusionrec's ``model`` as the table with RecBole trains it: its side-by-side settings
    (``SIDE_MODELS``), nothing masked (RecBole's sequential evaluation masks nothing), and
    batches of ``equal_steps_batch`` windows."""
    params = SIDE_MODELS.get(model, models_of(DATASETS[0])[model][0])
    return as_side_by_side(make_config(args, model, params), prep)


def as_side_by_side(config: ExperimentConfig, prep: Prepared) -> ExperimentConfig:
    """``config`` trained and scored as the side-by-side table does: nothing masked, and
    batches of ``equal_steps_batch`` windows (a probe for that table goes through it too)."""
    stride = config.model.params.get("window_stride")
    batch = equal_steps_batch(prep, config.model.name, stride)
    train = TrainConfig.model_validate({**config.train.model_dump(), "batch_size": batch})
    scoring = EvaluateConfig.model_validate({**config.evaluate.model_dump(), "repeat": True})
    return config.model_copy(update={"train": train, "evaluate": scoring})


def side_differences() -> str:
    """``SIDE_MODELS``' settings that differ from ``MODELS``', as ``model key=value``."""
    out = []
    for model, params in SIDE_MODELS.items():
        changed = {k: v for k, v in params.items() if MODELS[model][0].get(k) != v}
        out.append(f"{model} " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    return "; ".join(out)


def equal_steps_batch(prep: Prepared, model: str, stride: int | None) -> int:
    """Windows a batch, so that it holds as many targets as RecBole's batch of
    ``TRAIN_BATCH`` next-item examples: both sides then take the same number of optimiser
    steps an epoch, and a patience of ten epochs means as many steps on both. A window
    scores up to ``stride`` targets (the paper's 128 windows of ~22 targets would be 34
    steps an epoch against RecBole's 47)."""
    sequences = train_data(prep, model, torch.device("cpu")).sequences
    targets = len(sequences.trainable_positions())
    windows = len(sequences.window_ends(stride or SEQ["max_length"]))
    return max(1, round(TRAIN_BATCH * windows / targets))


def results_of(
    cfg: ExperimentConfig, run_dir: Path, prep: Prepared, collect: bool
) -> dict[str, Any] | None:
    """``results.json`` of every seed of ``cfg`` in ``run_dir``, trained on ``prep`` (or
    continued, or read back if already there); with ``collect`` only a finished run's, None
    if there is none."""
    if collect:
        if not (run_dir / FINISHED).exists():
            return None
        check_collected(cfg, run_dir)
        return read_json(run_dir / FINISHED)
    return run_or_continue(cfg, run_dir, prep)


#: settings a collected run may differ in without its numbers meaning something else: where
#: it ran, and where its (identical) feature matrices were read from
WHERE_IT_RAN = ("name", "output_dir", "train.device", "train.threads", "train.checkpoint_every",
                "train.checkpoint_seconds", "evaluate.batch_users", "features.precomputed",
                "features.cache_dir")  # fmt: skip


def check_collected(cfg: ExperimentConfig, run_dir: Path) -> None:
    """A finished run read back into the table must have been trained with the study's
    settings for its row (a setting chosen since, a changed epoch budget): otherwise the row
    would describe a run that never happened. Exits naming the differences."""
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    now = yaml.safe_load(dump_config(cfg))
    differ = [
        d
        for d in config_differences(saved, now)
        if not d.startswith(WHERE_IT_RAN)
        and not d.endswith(": unset (saved) != None (now)")  # an option added since, unused
    ]
    if differ:
        raise SystemExit(
            f"{run_dir}: trained with other settings than this study gives its row: "
            f"{'; '.join(differ)}. Train it again (drop --collect), or collect from a "
            "checkout of the code it ran with"
        )


def run_model(
    cfg: ExperimentConfig, prep: Prepared, run_dir: Path, collect: bool
) -> dict[str, Any] | None:
    """The table row of ``results_of`` (None if there is none)."""
    results = results_of(cfg, run_dir, prep, collect)
    return None if results is None else row_of(results, run_dir, cfg.train.epochs)


def tuned_model(
    cfg: ExperimentConfig, folder: Path, trials: int, collect: bool
) -> dict[str, Any] | None:
    """``cfg``'s model searched over its shipped space with ``trials`` trials on validation
    (the first seed; ``fusionrec tune``, resumable in ``folder``), then its chosen setting
    with every seed in ``folder/best``: the table row, with the setting chosen (None with
    ``collect`` until the search has finished)."""
    from fusionrec.train.tune import tune

    if not collect:
        cfg = cfg.model_copy(update={"search": {"n_trials": trials}})
        tune(cfg, folder, progress=False, resume=True)
    best = folder / "best"
    if not (best / FINISHED).exists():
        return None
    row = row_of(read_json(best / FINISHED), best, cfg.train.epochs)
    row["chosen"] = read_json(folder / "tune.json").get("best_params", {})
    row["trials"] = len(read_json(folder / "trials.json"))
    return row


def row_of(results: dict[str, Any], run_dir: Path, cap: int) -> dict[str, Any]:
    """A finished run's table row: its test metrics over the seeds, timings and device."""
    records = results["per_seed"]
    device = trained_on(run_dir)
    TRAINED_ON.add(device)
    row = summarise(
        [r["test"] for r in records],
        [r["seconds_per_epoch"] for r in records],
        [r["epochs"] for r in records],
        [r.get("cpu_seconds_per_epoch", np.nan) for r in records],  # older runs lack it
        device,
    )
    row["capped"] = [(r["seed"], r["best_epoch"]) for r in records if r["epochs"] >= cap]
    return row


def epoch_cap_line(rows: dict[str, dict[str, Any] | None], cap: int) -> str:
    """Which seeds trained to the epoch cap instead of stopping early: their best epoch may
    not be the best the model reaches, which a reader comparing rows must know."""
    hit = [
        f"{model} seed {seed} (best epoch {best})"
        for model, row in rows.items()
        if row
        for seed, best in row.get("capped", [])
    ]
    if not hit:
        return f"- every seed stopped early on validation, before the {cap}-epoch cap"
    return (
        f"- ran all {cap} epochs without stopping early (with more epochs they might score "
        "higher): " + ", ".join(hit)
    )


#: the machines the rows of this table trained on (read back from their runs)
TRAINED_ON: set[str] = set()


def trained_on(run_dir: Path) -> str:
    """The device a finished run trained on, from its manifest: a table collected elsewhere
    must not pass for this machine's work."""
    machine = read_json(run_dir / "manifest.json").get("machine", {})
    return f"{machine.get('gpu') or 'CPU'} (torch {machine.get('torch', '?')})"


def summarise(
    tests: list[dict[str, float]],
    spe: list[float],
    epochs: list[int],
    cpu: list[float],
    device: str,
) -> dict:
    """A table row: test metrics (mean, std), seconds per epoch, and the device they were
    measured on (rows trained on different machines are not compared for speed)."""
    return {
        "device": device,
        "test": {k: mean_std([t[k] for t in tests]) for k in SHOWN},
        "s/epoch": float(np.mean(spe)),
        "cpu s/epoch": float(np.mean(cpu)),
        "epochs": float(np.mean(epochs)),
        "seeds": len(tests),
    }


def recbole_files(prep: Prepared, root: Path, max_length: int) -> Path:
    """fusionrec's own examples as RecBole benchmark files: train = every training item
    after a user's first with its prefix; valid/test = the held-out item with the history
    fusionrec scores it from."""
    data = train_data(prep, "sasrec", torch.device("cpu"))
    seqs, pad = data.sequences, prep.dataset.n_items
    pos = seqs.trainable_positions()
    parts = {"train": (seqs.owners[pos], seqs.prefixes(pos, max_length, pad), seqs.items[pos])}
    for name, part in (("valid", VALID), ("test", TEST)):
        users, items = prep.split.pairs(prep.dataset, part)
        history = scoring_history(prep, part)
        parts[name] = (users, history.recent(users, max_length, pad), items)
    return write_sequence_files(root, "ml100k-loo", parts, pad)


def run_recbole(
    model: str, files: Any, args: argparse.Namespace, seeds: list[int]
) -> dict[str, Any] | None:
    """RecBole's ``model`` with every seed, each cached in ``<runs>/recbole``; ``files``
    writes the benchmark files when a seed has to be trained. With ``--collect`` only the
    cached seeds (None if there are none)."""
    name, params = RECBOLE[model]
    epochs = args.recbole_epochs or args.epochs
    torch.set_num_threads(args.threads)
    runs = []
    settings = {"params": params, "patience": PATIENCE, "max_length": SEQ["max_length"]}
    for seed in seeds:
        path = args.runs / "recbole" / f"{name}-seed{seed}-epochs{epochs}.json"
        drop_stale(path, settings, may_train=not args.collect)
        if not path.exists() and not args.collect:
            run = run_sequential(
                name,
                files(),
                "ml100k-loo",
                epochs=epochs,
                params=params,
                seed=seed,
                patience=PATIENCE,
                topk=KS,
                max_length=SEQ["max_length"],
                device="cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu",
                checkpoint_dir=args.runs / "recbole" / "saved",
            )  # fmt: skip
            device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
            write_json(path, {"seed": seed, "device": f"{device} (torch {torch.__version__})",
                              "settings": settings, **run.numbers()})  # fmt: skip
        if path.exists():
            runs.append(read_json(path))
            TRAINED_ON.add("RecBole: " + runs[-1].get("device", "device not recorded"))
    if not runs:
        return None
    row = summarise(
        [r["test"] for r in runs],
        [float(np.mean(r["train_seconds"])) for r in runs],
        [r["epochs_run"] for r in runs],
        [float(np.mean(r.get("train_cpu_seconds") or [np.nan])) for r in runs],
        "; ".join(sorted({r.get("device", "device not recorded") for r in runs})),
    )
    row["per_user"] = seed_mean_per_user([r.get("per_user_test") for r in runs])
    return row


def seed_mean_per_user(per_seed: list[dict[str, list] | None]) -> dict[str, Any] | None:
    """Each user's test NDCG@10 averaged over the seeds of a RecBole model (``users`` sorted),
    as fusionrec's per-user scores are; None when a seed ran before they were recorded."""
    if not per_seed or any(p is None for p in per_seed):
        return None
    users = sorted(per_seed[0]["users"])
    scores = []
    for p in per_seed:
        by_user = dict(zip(p["users"], p["ndcg@10"], strict=True))
        if sorted(by_user) != users:
            raise ValueError("RecBole's seeds scored different test users")
        scores.append([by_user[u] for u in users])
    return {"users": users, "ndcg@10": np.mean(scores, axis=0).tolist()}


def paired_with_recbole(runs: Path, model: str, recbole: dict[str, Any] | None) -> list[str]:
    """fusionrec's unmasked ``model`` minus RecBole's on test NDCG@10, paired over the test
    users (each side's score averaged over its seeds): a gap of a few thousandths between
    two means of three seeds is within seed noise, and this says whether it is more."""
    from fusionrec.errors import FusionrecError
    from fusionrec.evaluate.significance import paired_difference
    from paired import per_user_test

    if recbole is None or recbole.get("per_user") is None:
        return ["  - paired over users: not computed (RecBole's per-user test scores were not "
                "recorded: its runs predate them)"]  # fmt: skip
    try:
        ours = per_user_test(runs / "unmasked" / model, ("ndcg@10",))
    except FusionrecError as exc:
        return [f"  - paired over users: not computed ({exc})"]
    theirs = dict(zip(recbole["per_user"]["users"], recbole["per_user"]["ndcg@10"], strict=True))
    if sorted(ours["users"]) != sorted(theirs):
        raise ValueError(f"fusionrec's {model} and RecBole's scored different test users")
    r = paired_difference(np.array(ours["ndcg@10"]), np.array([theirs[u] for u in ours["users"]]))
    return [
        f"  - paired over the {r['users']} test users (each side's NDCG@10 averaged over its "
        f"seeds): fusionrec minus RecBole {r['mean']:+.4f} (95 % CI {r['low']:+.4f} to "
        f"{r['high']:+.4f}); paired t-test p = {r['p_t']:.2g}, Wilcoxon p = "
        f"{r['p_wilcoxon']:.2g}; better for {r['better']} users, worse for {r['worse']}"
    ]


def fmt(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.4f} ± {pair[1]:.4f}"


def table(rows: dict[str, dict[str, Any] | None]) -> list[str]:
    out = [
        "| model | " + " | ".join(SHOWN) + " | s/epoch | epochs | seeds | trained on |",
        "|---|" + "---|" * (len(SHOWN) + 4),
    ]
    for name, r in rows.items():
        if r is None:
            out.append(f"| {name} | " + " | ".join("not run yet" for _ in SHOWN) + " | | | 0 | |")
            continue
        cells = " | ".join(fmt(r["test"][k]) for k in SHOWN)
        spe, epochs = f"{r['s/epoch']:.2f}", f"{r['epochs']:.0f}"
        device = r["device"].split(" (torch")[0]
        out.append(f"| {name} | {cells} | {spe} | {epochs} | {r['seeds']} | {device} |")
    return out


def tuned_lines(rows: dict[str, dict[str, Any] | None], args: argparse.Namespace) -> list[str]:
    """The header's account of the searched rows: the budget each had (read from its run, so
    an unequal one shows) and the setting validation chose; the fixed settings named in the
    split line above then apply only to the rows not searched."""
    tuned = [m for m in rows if m in tuned_models(args) and rows[m]]
    if not tuned:
        return []
    mixed = trial_code_note({m: args.runs / "tuned" / m for m in tuned})
    return [
        f"- searched with `--trials {args.trials}` (each model's shipped space over the "
        "settings before any choice, `PROBE_BASE`; validation NDCG@10 on the first seed; the "
        "chosen setting then trained with every seed, test scored once): "
        + "; ".join(f"{m} {rows[m]['trials']} trials, chose {rows[m]['chosen']}" for m in tuned)
        + " (a searched row trains with its choice: windows not overlapped unless it names "
        "window_stride)",
        *([mixed] if mixed else []),
    ]


def stride_clause(
    args: argparse.Namespace,
    settings: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    chosen: list[str],
) -> str:
    """The header's window_stride of each window-trained row with a fixed setting; a searched
    row trains with its search's choice (named in the search line), not the fixed one."""
    if args.window_stride:
        return f"; window-trained models with window_stride {args.window_stride}"
    fixed = [m for m in chosen if "max_length" in settings[m][0] and m not in tuned_models(args)]
    if not fixed:
        return ""
    return "; window_stride (chosen on validation, sequential_probes.md): " + ", ".join(
        f"{m} {settings[m][0].get('window_stride', 'none')}" for m in fixed
    )


def tuned_models(args: argparse.Namespace) -> set[str]:
    """The masked table's models searched with ``--trials`` (those that ship a space)."""
    from fusionrec.train.tune import shipped_space

    if not getattr(args, "trials", 0):
        return set()
    return {m for m in PROBE_BASE if shipped_space(m) is not None}


def row_dir(args: argparse.Namespace) -> Callable[[str], Path]:
    """Where each model's row of the masked table was trained: its search's ``best`` run when
    it was tuned, else its fixed-setting run."""
    tuned = tuned_models(args)
    return lambda m: args.runs / "tuned" / m / "best" if m in tuned else args.runs / "masked" / m


def paired_over_users(
    run_of: Callable[[str], Path], model: str, base: str
) -> tuple[list[str], float | None]:
    """``model`` minus ``base`` on test NDCG@10 paired over the test users, each user's metric
    averaged over the seeds and re-scored from the saved weights (cached beside each run, so
    a table collected from a copy of the runs without weights still has it): the verdict's
    lines and the lower end of the 95 % interval (None when it could not be computed)."""
    from fusionrec.errors import FusionrecError
    from fusionrec.evaluate.significance import paired_difference
    from paired import per_user_test

    try:
        a, b = (per_user_test(run_of(name), ("ndcg@10",)) for name in (model, base))
    except FusionrecError as exc:
        return [f"  - paired over users: not computed ({exc})"], None
    r = paired_difference(np.array(a["ndcg@10"]), np.array(b["ndcg@10"]))
    line = (
        f"  - paired over the {len(a['users'])} test users (each user's NDCG@10 averaged over "
        f"the seeds, re-scored from the saved weights: within {max(a['gap'], b['gap']):.1e} of "
        f"the recorded): {model} minus {base} {r['mean']:+.4f} (95 % CI {r['low']:+.4f} to "
        f"{r['high']:+.4f}); paired t-test p = {r['p_t']:.2g}, Wilcoxon p = "
        f"{r['p_wilcoxon']:.2g}; better for {r['better']} users, worse for {r['worse']}"
    )
    return [line], float(r["low"])


def bucket_rows(
    mine: np.ndarray, base: np.ndarray, held: np.ndarray, groups: dict[str, np.ndarray]
) -> list[str]:
    """Rows of ``mine`` against ``base`` (per-user test NDCG@10) by the bucket of the item each
    user holds out (``held``; ``groups`` are 0/1 vectors over items), with the paired mean
    difference and its 95 % interval where a bucket has two users or more."""
    from fusionrec.evaluate.significance import paired_difference

    rows = []
    for label, members in groups.items():
        sel = members[held].astype(bool)
        if not sel.any():
            rows.append(f"| {label} | 0 | | | |")
            continue
        diff = ""
        if sel.sum() >= 2:
            r = paired_difference(mine[sel], base[sel])
            diff = f"{r['mean']:+.4f} ({r['low']:+.4f} to {r['high']:+.4f})"
        rows.append(
            f"| {label} | {int(sel.sum())} | {base[sel].mean():.4f} | {mine[sel].mean():.4f} "
            f"| {diff} |"
        )
    return rows


def by_popularity(
    run_of: Callable[[str], Path], prep: Prepared, model: str, base: str
) -> list[str]:
    """``model`` against ``base`` on test NDCG@10 by the training ratings of each user's
    held-out item: content should pay on rarely rated items, which ids alone barely learn,
    and a whole-table mean can hide a gain there behind a loss on the popular ones. Read from
    the per-user scores the paired test caches; nothing if they could not be computed (the
    paired line says why)."""
    from fusionrec.errors import FusionrecError
    from paired import per_user_test

    try:
        a, b = (per_user_test(run_of(name), ("ndcg@10",)) for name in (model, base))
    except FusionrecError:
        return []
    users, items = prep.split.pairs(prep.dataset, TEST)
    held_by_user = dict(zip(users.tolist(), items.tolist(), strict=True))
    if len(held_by_user) != len(users):
        raise ValueError("by_popularity needs one held-out item per user (leave-one-out)")
    held = np.array([held_by_user[u] for u in a["users"]])
    return [
        f"## Test NDCG@10 by the held-out item's training ratings ({model} against {base})",
        "",
        f"| training ratings | users | {base} | {model} | {model} minus {base} (95 % CI) |",
        "|---|---|---|---|---|",
        *bucket_rows(
            np.asarray(a["ndcg@10"]), np.asarray(b["ndcg@10"]), held, popularity_groups(prep)
        ),
        "",
        "- each user's NDCG@10 averaged over the seeds (the paired test's scores); an item with "
        "no training rating has an untrained id embedding",
    ]


def verdict(main: dict[str, Any], side: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Claims only where the run supports them: RecBole's quality only when it had the same
    epoch budget, a win only against a spread measured over at least two seeds."""
    lines = []
    capped = (args.recbole_epochs or args.epochs) < args.epochs
    for ours, theirs in (("sasrec", "RecBole SASRec"), ("gru4rec", "RecBole GRU4Rec")):
        a, b = side.get(f"fusionrec {ours}"), side.get(theirs)
        if a and b:
            (na, sa), (nb, sb) = a["test"]["ndcg@10"], b["test"]["ndcg@10"]
            quality = (
                "no quality claim: RecBole's epochs were capped below fusionrec's"
                if capped
                else ("matches or beats" if na >= nb else "below")
                + f" by {abs(na - nb):.4f}; larger seed std {max(sa, sb):.4f}"
            )
            if a["seeds"] != b["seeds"]:
                quality += f"; seeds differ: fusionrec {a['seeds']}, RecBole {b['seeds']}"
            speed = (
                f"s/epoch {a['s/epoch']:.2f} vs {b['s/epoch']:.2f} "
                f"({'faster' if a['s/epoch'] < b['s/epoch'] else 'slower'})"
                if a["device"] == b["device"]
                else f"s/epoch not compared: fusionrec trained on {a['device']}, RecBole on "
                f"{b['device']} (`--time-epochs` times both alone on one machine: "
                "sequential_speed.md on a GPU, sequential_speed_cpu.md on a CPU)"
            )
            lines.append(
                f"- {ours}: test NDCG@10 fusionrec {na:.4f} vs RecBole {nb:.4f} ({quality}); "
                + speed
            )
            lines += paired_with_recbole(args.runs, ours, b)
    if main.get("mmsasrec") and main.get("sasrec"):
        mm, ids = main["mmsasrec"]["test"]["ndcg@10"], main["sasrec"]["test"]["ndcg@10"]
        paired_lines, low = paired_over_users(row_dir(args), "mmsasrec", "sasrec")
        if min(main["mmsasrec"]["seeds"], main["sasrec"]["seeds"]) < 2:  # rows read back too
            word = "cannot be said to beat (one seed: no spread measured)"
        elif mm[0] - ids[0] > max(mm[1], ids[1]) and low is not None and low > 0:
            word = "beats"
        else:
            word = "does NOT clearly beat"
        lines.append(
            f"- mmsasrec {word} id-only sasrec on test NDCG@10: {fmt(mm)} vs {fmt(ids)} "
            "(beats: a margin above the larger sample std and a paired interval above zero)"
        )
        lines += paired_lines
    return lines


def recbole_seeds(args: argparse.Namespace) -> list[int]:
    return list(range(1, (args.recbole_seeds or args.seeds) + 1))


def units(args: argparse.Namespace, chosen: list[str]) -> list[str]:
    """The study's independent pieces of work, each trainable in a process of its own:
    ``masked/<model>`` (``tuned/<model>``, its search, with ``--trials``),
    ``unmasked/<model>``, ``recbole/<model>/<seed>``."""
    tuned = tuned_models(args)
    out = [
        f"{'tuned' if m in tuned else 'masked'}/{m}"
        for m in MODELS
        if m in chosen and not getattr(args, "recbole_only", False)
    ]
    if not compares_recbole(args):
        return out  # the masked table alone
    for model in (m for m in RECBOLE if m in chosen):
        out.append(f"unmasked/{model}")
        out += [f"recbole/{model}/{seed}" for seed in recbole_seeds(args)]
    return out


def compares_recbole(args: argparse.Namespace) -> bool:
    """Whether the study has its side-by-side table with RecBole: the dense set's, unless
    ``--skip-recbole`` (fusionrec's unmasked rows alone would compare with nothing)."""
    return args.dataset == DATASETS[0] and not args.skip_recbole


def run_unit(
    unit: str, args: argparse.Namespace, prep: Prepared, files: Callable[[], Path]
) -> None:
    """Train one of ``units`` (or continue it, or find it finished)."""
    kind, model, *seed = unit.split("/")
    if kind == "tuned":
        cfg = make_config(args, model, params=PROBE_BASE[model])
        tuned_model(cfg, args.runs / kind / model, args.trials, collect=False)
    elif kind == "masked":
        run_model(make_config(args, model), prep, args.runs / kind / model, collect=False)
    elif kind == "unmasked":
        run_model(side_by_side_config(args, model, prep), prep, args.runs / kind / model,
                  collect=False)  # fmt: skip
    elif kind == "recbole":
        run_recbole(model, files, args, [int(seed[0])])
    else:
        raise ValueError(f"unknown unit {unit!r}")


def run_units_in_parallel(args: argparse.Namespace, todo: list[str]) -> None:
    """Each unit in its own process, ``--jobs`` at a time (on a GPU machine they share the
    GPU); a failed unit is reported and its row stays empty."""
    passed = ["--epochs", str(args.epochs), "--seeds", str(args.seeds)]
    passed += ["--threads", str(args.threads), "--device", args.device, "--runs", str(args.runs)]
    passed += ["--dataset", args.dataset]
    if args.recbole_epochs:
        passed += ["--recbole-epochs", str(args.recbole_epochs)]
    if args.features_from:
        passed += ["--features-from", str(args.features_from)]
    if args.window_stride:
        passed += ["--window-stride", str(args.window_stride)]
    if args.trials:
        passed += ["--trials", str(args.trials)]

    def one(unit: str) -> tuple[str, subprocess.CompletedProcess]:
        cmd = [sys.executable, __file__, "--unit", unit, *passed]
        return unit, subprocess.run(cmd, capture_output=True, text=True, check=False)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in as_completed([pool.submit(one, unit) for unit in todo]):
            unit, proc = future.result()
            state = "done" if proc.returncode == 0 else f"FAILED:\n{proc.stderr[-3000:]}"
            print(f"{unit}: {state}", flush=True)


def patience_of(
    settings: dict[str, tuple[dict[str, Any], dict[str, Any]]], chosen: list[str]
) -> str:
    """The study's patience, and each model that trains with another one."""
    own = [f"{m} {settings[m][1]['patience']}" for m in chosen if "patience" in settings[m][1]]
    return f"{PATIENCE}" + (f" ({', '.join(own)})" if own else "")


def windows_read() -> str:
    """How fusionrec's side of the timing reads the sequences, per model, from ``MODELS``."""
    out = []
    for model in RECBOLE:
        length, stride = MODELS[model][0]["max_length"], MODELS[model][0].get("window_stride")
        if stride in (None, length):
            out.append(f"{model}: each {length}-item window once")
        else:
            out.append(
                f"{model}: {length}-item windows every {stride} items, each scoring its last "
                f"{stride} positions"
            )
    return "; ".join(out)


def time_epochs(args: argparse.Namespace, prep: Prepared) -> None:
    """Seconds per training epoch of fusionrec's and RecBole's SASRec and GRU4Rec, measured
    one at a time with nothing else training (the study's own timings may come from
    ``--jobs`` processes sharing the machine): ``--time-epochs`` epochs of each, the study's
    settings, one seed, in a scratch folder."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-sequential-speed-"))
    timed = argparse.Namespace(**{**vars(args), "epochs": args.time_epochs, "seeds": 1})
    timed.runs, timed.recbole_epochs, timed.collect = scratch, args.time_epochs, False
    files = functools.cache(
        lambda: recbole_files(prep, scratch / "recbole" / "data", SEQ["max_length"])
    )
    rows = [
        "| model | fusionrec s/epoch | RecBole s/epoch | RecBole / fusionrec "
        "| fusionrec CPU s/epoch | RecBole CPU s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    batches: list[str] = []
    for model in RECBOLE:
        cfg = side_by_side_config(timed, model, prep)
        batches.append(f"{model} {cfg.train.batch_size} windows a batch")
        ours = run_model(cfg, prep, scratch / "unmasked" / model, collect=False)
        theirs = run_recbole(model, files, timed, [1])
        a, b = ours["s/epoch"], theirs["s/epoch"]
        cpu = f"{ours['cpu s/epoch']:.3f} | {theirs['cpu s/epoch']:.3f}"
        rows.append(f"| {model} | {a:.3f} | {b:.3f} | {b / a:.1f}x | {cpu} |")
        print(rows[-1], flush=True)
    text = header("Sequential models: seconds per training epoch, fusionrec vs RecBole 1.2.1")
    text += "\n".join(
        [
            f"- {args.time_epochs} epochs of each (mean wall and CPU seconds per training "
            "epoch, validation not counted; CPU: the process's, all its threads), one "
            "seed, each run alone on the machine, one after the other; device "
            f"{args.device}; {args.threads} torch threads",
            "- the study's settings (d 64, max length 50, CE loss, nothing masked); RecBole "
            f"trains one example per next item (batch {TRAIN_BATCH}), fusionrec batches of "
            f"windows holding as many targets ({windows_read()}; {'; '.join(batches)}): "
            "each side predicts every target once per epoch, in as many optimiser steps",
            f"- fusionrec's settings where they differ from the masked table's: "
            f"{side_differences()}",
            "",
            *rows,
        ]
    )
    write_result(args.out, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument(
        "--runs", type=Path, default=None, help="default runs/bench-sequential[-sparse]"
    )
    ap.add_argument("--collect", action="store_true", help="train nothing: finished runs only")
    ap.add_argument("--skip-recbole", action="store_true")
    ap.add_argument(
        "--recbole-only",
        action="store_true",
        help="the side-by-side table with RecBole alone (fusionrec's unmasked SASRec and "
        "GRU4Rec beside RecBole's), written to sequential_recbole.md: RecBole's seeds take "
        "CPU-hours where the masked table takes one",
    )
    ap.add_argument(
        "--recbole-epochs",
        type=int,
        default=None,
        help="cap RecBole's epochs (default --epochs); its per-prefix training is slow on CPU",
    )
    ap.add_argument(
        "--recbole-seeds", type=int, default=None, help="RecBole seeds (default --seeds)"
    )
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train the study's units (each model of each table, each RecBole seed) in this "
        "many processes at once, each with --threads torch threads; on a GPU machine they "
        "share the GPU (default 1: one after the other, in this process)",
    )
    ap.add_argument(
        "--time-epochs",
        type=int,
        default=0,
        help="only time this many training epochs of fusionrec's and RecBole's SASRec and "
        "GRU4Rec, one run at a time, and write that table to --out",
    )
    ap.add_argument(
        "--features-from",
        type=Path,
        default=None,
        help="read item features from DIR/text.npz and DIR/image.npz (`fusionrec encode -d "
        "movielens-100k-mm --export DIR`) instead of encoding them",
    )
    ap.add_argument(
        "--window-stride",
        type=int,
        default=None,
        help="window_stride of every window-trained model (default: each model's chosen on "
        "validation, in MODELS); run it into its own --runs folder",
    )
    ap.add_argument(
        "--dataset",
        choices=DATASETS,
        default=DATASETS[0],
        help="the sparse catalogue gets the fusionrec table only (the RecBole comparison is "
        "the dense set's), written to sequential_sparse.md",
    )
    ap.add_argument(
        "--trials",
        type=int,
        default=0,
        help="search every sequential model's shipped space with this many trials on "
        "validation (the same budget for each; first seed), then train its chosen setting "
        "with every seed; 0 (default): the fixed settings in MODELS",
    )
    ap.add_argument("--unit", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sparse = args.dataset != DATASETS[0]
    if sparse and args.time_epochs:
        ap.error("--time-epochs times the dense set's study: drop --dataset")
    if args.recbole_only and (sparse or args.skip_recbole or args.trials):
        ap.error("--recbole-only is the dense set's side-by-side table: drop --dataset, "
                 "--skip-recbole and --trials")  # fmt: skip
    if args.runs is None:
        args.runs = Path("runs/bench-sequential" + ("-sparse" if sparse else ""))
    if args.out is None:
        name = (
            "sequential_speed.md"
            if args.time_epochs
            else "sequential_tuned.md"
            if args.trials
            else "sequential_recbole.md"
            if args.recbole_only
            else "sequential.md"
        )
        args.out = RESULTS / (name.replace(".md", "_sparse.md") if sparse else name)
    torch.set_num_threads(args.threads)
    seeds = list(range(1, args.seeds + 1))
    chosen = args.models.split(",")
    if set(chosen) - set(MODELS):
        ap.error(f"--models: choose from {', '.join(MODELS)}")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    cfg = make_config(args, "mmsasrec")
    prep = prepare(cfg, progress=False)  # the one split and features every model sees
    if args.time_epochs:
        time_epochs(args, prep)
        return

    @functools.cache
    def files() -> Path:
        """RecBole's benchmark files, written once, the first time a RecBole seed trains
        (before the units start, with --jobs; a unit process reads them)."""
        root = args.runs / "recbole" / "data"
        if args.unit and (root / "ml100k-loo" / "ml100k-loo.test.inter").exists():
            return root
        return recbole_files(prep, root, SEQ["max_length"])

    if args.unit:
        run_unit(args.unit, args, prep, files)
        return
    if args.jobs > 1 and not args.collect:
        todo = units(args, chosen)
        if any(u.startswith("recbole/") for u in todo):
            files()
        run_units_in_parallel(args, todo)
        args.collect = True  # every unit ran: the tables read what they left

    main_rows: dict[str, Any] = {}
    for model in [m for m in MODELS if m in chosen and not args.recbole_only]:
        if model in tuned_models(args):  # searched from the settings before any choice
            cfg = make_config(args, model, params=PROBE_BASE[model])
            row = tuned_model(cfg, args.runs / "tuned" / model, args.trials, args.collect)
        else:
            row = run_model(make_config(args, model), prep, args.runs / "masked" / model,
                            args.collect)  # fmt: skip
        main_rows[model] = row
        if row:
            print(model, {k: fmt(v) for k, v in row["test"].items()}, flush=True)

    side: dict[str, Any] = {}
    batches: list[str] = []
    for model in [m for m in RECBOLE if m in chosen and compares_recbole(args)]:
        cfg = side_by_side_config(args, model, prep)
        batches.append(f"{model} {cfg.train.batch_size}")
        side[f"fusionrec {model}"] = run_model(
            cfg, prep, args.runs / "unmasked" / model, args.collect
        )
        side[f"RecBole {RECBOLE[model][0]}"] = run_recbole(model, files, args, recbole_seeds(args))
    dense_only = [
        "## fusionrec vs RecBole 1.2.1, identical split and histories, nothing masked",
        "",
        f"- fusionrec's batches here hold as many targets as RecBole's {TRAIN_BATCH} examples, "
        f"so each side takes as many optimiser steps an epoch (windows a batch: "
        f"{', '.join(batches)})",
        f"- fusionrec's settings here where they differ from the masked table's (chosen on "
        f"validation with nothing masked, `sequential_probes.md`): {side_differences()}",
        "",
        *table(side),
        "",
    ]
    settings = models_of(args.dataset)
    masked_table = [
        "## fusionrec models (training and validation items masked)",
        "",
        *table(main_rows),
        "",
    ]
    shown = [m for m in chosen if m in RECBOLE] if args.recbole_only else chosen
    if args.recbole_only:
        masked_table = ["- `--recbole-only`: the side-by-side table alone (the masked table "
                        "is `sequential.md`'s)", ""]  # fmt: skip
    text = header(f"Sequential recommendation on {args.dataset} (leave-one-out)")
    text += "\n".join(
        [
            f"- split: leave-one-out, {prep.split.counts()}; seeds {seeds}; up to "
            f"{args.epochs} epochs, patience {patience_of(settings, shown)} on validation "
            f"NDCG@10; {args.threads} threads"
            + stride_clause(args, settings, shown)
            + (
                f"; {args.jobs} units trained at once (s/epoch measured while they shared "
                "the machine: `--time-epochs` times each alone)"
                if args.jobs > 1
                else ""
            ),
            "- RecBole: the dense set's study (not run here)"
            if sparse
            else "- RecBole: not run (`--skip-recbole`): no side-by-side table"
            if not compares_recbole(args)
            else f"- RecBole: up to {args.recbole_epochs or args.epochs} epochs, "
            f"{args.recbole_seeds or args.seeds} seed(s) asked for"
            + "".join(
                f"; {name} finished {row['seeds']}"
                for name, row in side.items()
                if name.startswith("RecBole") and row
            )
            + (
                " (capped below fusionrec's budget: it may stop before converging, so its "
                "row is a lower bound on what RecBole reaches)"
                if (args.recbole_epochs or args.epochs) < args.epochs
                else ""
            ),
            *tuned_lines(main_rows, args),
            epoch_cap_line({**main_rows, **side}, args.epochs),
            "- trained on: " + "; ".join(sorted(TRAINED_ON)),
            "- item features: "
            + "; ".join(f"{m.name} {m.encoder_id}" for m in prep.features or []),
            "- mean ± sample std (ddof=1) over seeds; test scored once per seed",
            "",
            *masked_table,
            *(dense_only if compares_recbole(args) else []),
            "## Verdict",
            "",
            *verdict(main_rows, side, args),
            "",
            *(
                by_popularity(row_dir(args), prep, "mmsasrec", "sasrec")
                if main_rows.get("mmsasrec") and main_rows.get("sasrec")
                else []
            ),
        ]
    )
    write_result(args.out, text)


if __name__ == "__main__":
    main()
