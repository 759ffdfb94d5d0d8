"""Training and evaluation speed: fusionrec beside RecBole, and the multimodal graph models
before and after the speed work, measured in one script.

Part 1, fusionrec vs RecBole 1.2.1 (MF-BPR and LightGCN with 2 layers, on amazon-baby's
shipped split and movielens-100k-mm's canonical split file): the same interactions (the split
is handed to RecBole as benchmark files), embedding 64, batch 2048, Adam lr 1e-3, one uniform
negative, reg weight 0 for MF-BPR and 1e-5 for LightGCN (RecBole's defaults), the same number
of epochs and the same torch thread count. Each run is its own process, so peak memory is
per run. Reported: seconds per training epoch (wall and CPU; the first epoch is left out as
warm-up), seconds per full validation evaluation (all items ranked, training items masked,
K 10/20/50, timed after training with ``--eval-threads``), peak resident memory, and
validation Recall@20 after the same epochs over ``--quality-seeds`` seeds per toolkit (timing
from the first), so speed is not bought with quality: the gap of the means must lie within
two standard errors.

Part 2, MGCN, SMORE, FREEDOM and LATTICE on movielens-100k-mm with text + poster features:
seconds per epoch and the validation Recall@20 curve for a fixed seed, at this commit and at
``--baseline`` (checked out into a temporary git worktree and run by the same worker code).

RecBole is an optional benchmark dependency: ``pip install -e '.[bench]'``.

    python benchmarks/bench_speed.py [--epochs 10] [--mm-epochs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ML100K_SPLIT = "../shared/data/movielens-100k-mm/split-8-1-1.inter"
TOOLKIT_MODELS = {"mf-bpr": "BPR", "lightgcn": "LightGCN"}
TOOLKIT_PARAMS = {  # fusionrec params, RecBole params: the same settings on both sides
    "mf-bpr": ({"embedding_size": 64, "reg_weight": 0.0}, {}),
    "lightgcn": (
        {"embedding_size": 64, "n_layers": 2, "reg_weight": 1e-5},
        {"n_layers": 2, "reg_weight": 1e-5},
    ),
}
MM_MODELS = ("mgcn", "smore", "freedom", "lattice")
TARGET_TRAIN_RATIO = 0.5
TARGET_EVAL_S, STRETCH_EVAL_S = 1.0, 0.6
TARGET_MM_SPEEDUP = 3.0


# -- workers (one process per run) ---------------------------------------------------------
def _config(dataset: str, model: str, params: dict[str, Any], features: bool, device: str):
    from fusionrec.config import validate_config

    cfg: dict[str, Any] = {
        "name": "speed",
        "dataset": {"name": dataset},
        "model": {"name": model, "params": params},
        "train": {"batch_size": 2048, "lr": 1e-3, "device": device},
    }
    if dataset == "movielens-100k-mm":
        cfg["split"] = {"method": "predefined", "path": str(HERE.parent / ML100K_SPLIT)}
    if features:
        cfg["features"] = {"modalities": ["text", "image"]}
    return validate_config(cfg)


def _eval_seconds(evaluate, threads: int, repeats: int) -> list[float]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            evaluate()
            times.append(time.perf_counter() - t0)
        return times
    finally:
        torch.set_num_threads(before)


def worker_fusionrec(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.model`` for ``args.epochs`` epochs; validation after every epoch when
    ``args.curve`` (part 2), otherwise once at the end (part 1)."""
    import torch

    from fusionrec.models import TrainData, build_model
    from fusionrec.train.experiment import item_labels, prepare, split_evaluators
    from fusionrec.train.trainer import Trainer, evaluate_model, seed_everything

    torch.set_num_threads(args.threads)
    params = json.loads(args.params)
    config = _config(args.dataset, args.model, params, args.features, args.device)
    config = config.model_copy(
        update={"train": config.train.model_copy(update={"seed": args.seed})}
    )
    prep = prepare(config, progress=False)
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    valid, _, train = split_evaluators(prep, config, device)
    seed_everything(args.seed)
    data = TrainData(
        prep.dataset.n_users,
        prep.dataset.n_items,
        train,
        prep.features,
        item_labels(prep.dataset),
        device,
    )
    model = build_model(args.model, data, params)
    trainer = Trainer(model, data, valid, config.train, progress=False)
    epoch_fn = getattr(trainer, "train_epoch", None) or trainer._train_epoch  # older commits
    wall, cpu, losses, curve = [], [], [], []
    for epoch in range(1, args.epochs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        losses.append(epoch_fn(epoch))
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if args.curve:
            curve.append(evaluate_model(model, valid)["recall@20"])
    final = evaluate_model(model, valid)
    evals = _eval_seconds(lambda: evaluate_model(model, valid), args.eval_threads, 3)
    return {
        "train_wall": wall,
        "train_cpu": cpu,
        "losses": losses,
        "curve": curve,
        "valid_recall@20": final["recall@20"],
        "eval_seconds": evals,
    }


def worker_recbole(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    sys.path.insert(0, str(HERE))
    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.train.experiment import prepare
    from recbole_runner import run_general, write_benchmark_files

    torch.set_num_threads(args.threads)
    config = _config(args.dataset, "mf-bpr", {}, False, args.device)
    prep = prepare(config, progress=False)
    parts = {
        name: prep.split.pairs(prep.dataset, part)
        for name, part in (("train", TRAIN), ("valid", VALID), ("test", TEST))
    }
    with tempfile.TemporaryDirectory() as tmp:
        name = args.dataset.replace("-", "_")
        root = write_benchmark_files(Path(tmp), name, parts)
        params = {"embedding_size": 64, **TOOLKIT_PARAMS[args.model][1]}
        result = run_general(
            TOOLKIT_MODELS[args.model],
            root,
            name,
            epochs=args.epochs,
            params=params,
            eval_step=args.epochs,  # one validation, after the last epoch
            seed=args.seed,
            device=args.device,
        )
        evals = _eval_seconds(result.evaluate_valid, args.eval_threads, 3)
    return {
        "train_wall": result.train_seconds,
        "train_cpu": result.train_cpu_seconds,
        "losses": [],
        "curve": [],
        "valid_recall@20": result.valid["recall@20"],
        "eval_seconds": evals,
    }


def run_worker(args: argparse.Namespace) -> None:
    import resource

    out = worker_recbole(args) if args.toolkit == "recbole" else worker_fusionrec(args)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.worker_out).write_text(json.dumps(out))


# -- driver --------------------------------------------------------------------------------
def launch(
    toolkit: str,
    model: str,
    dataset: str,
    args: argparse.Namespace,
    *,
    src: Path | None = None,
    params: dict[str, Any] | None = None,
    features: bool = False,
    curve: bool = False,
    epochs: int,
    seed: int = 2026,
) -> dict[str, Any]:
    """One measurement in a fresh process (``src``: the fusionrec sources to import)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        toolkit,
        "--worker-out",
        str(out),
        "--model",
        model,
        "--dataset",
        dataset,
        "--epochs",
        str(epochs),
        "--threads",
        str(args.threads),
        "--eval-threads",
        str(args.eval_threads),
        "--device",
        args.device,
        "--params",
        json.dumps(params or {}),
        "--seed",
        str(seed),
    ]
    cmd += ["--features"] if features else []
    cmd += ["--curve"] if curve else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    label = f"{toolkit} {model} {dataset}" + (f" @ {src}" if src else "")
    print(f"running {label} ...", flush=True)
    proc = subprocess.run(cmd, env=env, cwd=HERE.parent, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    return result


def per_epoch(values: list[float]) -> float:
    """Mean seconds per epoch without the first (warm-up: allocator, caches, graph build)."""
    rest = values[1:] or values
    return statistics.fmean(rest)


def fmt_seeds(values: list[float]) -> str:
    from common import mean_std

    mean, std = mean_std(values)
    return f"{mean:.4f} ± {std:.4f} (n={len(values)})"


def same_quality(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Whether the two toolkits' validation Recall@20 agree within seed noise: the gap of
    the means inside two standard errors of that gap (sample stds over seeds)."""
    from common import mean_std

    a, b = ours["valid_recall@20_seeds"], theirs["valid_recall@20_seeds"]
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    band = 2 * ((sa**2 / len(a) + sb**2 / len(b)) ** 0.5)
    verdict = "the same within seed noise" if abs(ma - mb) <= band else "NOT within seed noise"
    return f"{ma:.4f} vs {mb:.4f}, gap {ma - mb:+.4f}, 2 s.e. {band:.4f}: {verdict}"


def toolkit_table(results: dict[tuple[str, str, str], dict[str, Any]], args) -> list[str]:
    lines = [
        "| dataset | model | toolkit | train s/epoch (wall) | train s/epoch (CPU) | "
        "fusionrec/RecBole (CPU) | eval s (median of 3) | peak MB | "
        "valid Recall@20 (mean ± std over seeds) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for dataset in args.datasets:
        for model in TOOLKIT_MODELS:
            ours, theirs = (
                results[(dataset, model, "fusionrec")],
                results[(dataset, model, "recbole")],
            )
            ratio = per_epoch(ours["train_cpu"]) / per_epoch(theirs["train_cpu"])
            for name, r in (("fusionrec", ours), ("RecBole", theirs)):
                shown = f"**{ratio:.2f}**" if name == "fusionrec" else ""
                lines.append(
                    f"| {dataset} | {model} | {name} | {per_epoch(r['train_wall']):.3f} | "
                    f"{per_epoch(r['train_cpu']):.3f} | {shown} | "
                    f"{statistics.median(r['eval_seconds']):.3f} | {r['peak_mb']:.0f} | "
                    f"{fmt_seeds(r['valid_recall@20_seeds'])} |"
                )
            ok = "met" if ratio <= TARGET_TRAIN_RATIO else "NOT met"
            verdicts.append(
                f"- {model} on {dataset}: training epoch {ratio:.2f}x RecBole's CPU time "
                f"(target <= {TARGET_TRAIN_RATIO}x): {ok}; valid Recall@20 after "
                f"{args.epochs} epochs: {same_quality(ours, theirs)}"
            )
    if "amazon-baby" in args.datasets:
        ev = statistics.median(results[("amazon-baby", "mf-bpr", "fusionrec")]["eval_seconds"])
        ok = "met" if ev <= TARGET_EVAL_S else "NOT met"
        stretch = "met" if ev <= STRETCH_EVAL_S else "not met"
        verdicts.append(
            f"- full evaluation of amazon-baby (valid, {args.eval_threads} threads): {ev:.3f} s "
            f"(target <= {TARGET_EVAL_S} s: {ok}; stretch <= {STRETCH_EVAL_S} s: {stretch})"
        )
    return lines + [""] + verdicts


def mm_table(before: dict[str, Any], after: dict[str, Any], args) -> list[str]:
    lines = [
        "| model | before s/epoch (wall / CPU) | after s/epoch (wall / CPU) | speed-up (CPU) | "
        "valid Recall@20 per epoch, before | after | "
        f"loss epoch {args.mm_epochs}, before / after |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    verdicts = []
    for model in MM_MODELS:
        b, a = before[model], after[model]
        speedup = per_epoch(b["train_cpu"]) / per_epoch(a["train_cpu"])
        lines.append(
            f"| {model} | {per_epoch(b['train_wall']):.2f} / {per_epoch(b['train_cpu']):.2f} | "
            f"{per_epoch(a['train_wall']):.2f} / {per_epoch(a['train_cpu']):.2f} | "
            f"**{speedup:.1f}x** | {' '.join(f'{v:.4f}' for v in b['curve'])} | "
            f"{' '.join(f'{v:.4f}' for v in a['curve'])} | "
            f"{b['losses'][-1]:.5f} / {a['losses'][-1]:.5f} |"
        )
        ok = "met" if speedup >= TARGET_MM_SPEEDUP else "NOT met"
        same = all(abs(x - y) < 1e-6 for x, y in zip(b["losses"], a["losses"], strict=True))
        curve = "identical losses" if same else "losses differ (see notes)"
        verdicts.append(
            f"- {model}: {speedup:.1f}x (target >= {TARGET_MM_SPEEDUP}x): {ok}; {curve}"
        )
    return lines + [""] + verdicts


NOTES = """
## What changed, and why the curves of MGCN and SMORE moved

See `docs/performance.md` for the profiles. In short: graph products use CSR kernels with
the transpose built once for the backward (COO `torch.sparse.mm` and its autograd backward
dominated LightGCN), Adam runs its fused kernel (the six-pass update dominated MF-BPR),
positives and negatives share one gather, FREEDOM projects each distinct item of a batch
once, and MGCN/SMORE's view-alignment InfoNCE runs over the batch's distinct users and
items. The last one changes the loss: a row repeated in a batch (a popular item) is no
longer its own negative, which the batch x batch form of the papers' code does; every
occurrence still counts as an anchor. Their loss and validation curves therefore differ
from the baseline commit's; the other models' losses are identical to the baseline's.
"""


def baseline_worktree(commit: str) -> Path:
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = Path(tempfile.mkdtemp(prefix="fusionrec-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), commit],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10, help="epochs per toolkit run (part 1)")
    ap.add_argument("--mm-epochs", type=int, default=4, help="epochs per model run (part 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training")
    ap.add_argument("--eval-threads", type=int, default=2, help="torch threads for evaluation")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--datasets", nargs="+", default=["amazon-baby", "movielens-100k-mm"])
    ap.add_argument("--baseline", default="50e823f", help="commit measured as 'before' in part 2")
    ap.add_argument("--skip-mm", action="store_true", help="only part 1")
    ap.add_argument(
        "--quality-seeds",
        type=int,
        default=3,
        help="seeds per run of part 1 for the validation comparison (timing: the first)",
    )
    ap.add_argument("--out", default=None)
    # worker mode (internal)
    ap.add_argument("--worker", choices=["fusionrec", "recbole"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--dataset", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--features", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--curve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=2026, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.toolkit = args.worker
        run_worker(args)
        return

    from common import RESULTS, header, write_json_result, write_result

    default_name = "speed.md" if args.device == "cpu" else f"speed-{args.device}.md"
    out = Path(args.out) if args.out else RESULTS / default_name
    load_before = os.getloadavg()
    results = {}
    seeds = [2026 + i for i in range(args.quality_seeds)]
    for dataset in args.datasets:
        for model in TOOLKIT_MODELS:
            params = TOOLKIT_PARAMS[model][0]
            for toolkit in ("fusionrec", "recbole"):
                runs = [
                    launch(toolkit, model, dataset, args, params=params, epochs=args.epochs, seed=s)
                    for s in seeds
                ]
                results[(dataset, model, toolkit)] = {
                    **runs[0],
                    "valid_recall@20_seeds": [r["valid_recall@20"] for r in runs],
                }
    sections = [
        header("Speed: fusionrec beside RecBole, and the multimodal graph models"),
        f"- load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"training threads {args.threads}, evaluation threads {args.eval_threads}, "
        f"device {args.device}",
        "",
        f"## fusionrec vs RecBole 1.2.1, {args.epochs} epochs each, same split and settings",
        "",
        *toolkit_table(results, args),
    ]
    if not args.skip_mm:
        worktree = baseline_worktree(args.baseline)
        try:
            before, after = {}, {}
            for model in MM_MODELS:
                common_kw = dict(features=True, curve=True, epochs=args.mm_epochs)
                before[model] = launch(
                    "fusionrec", model, "movielens-100k-mm", args, src=worktree / "src", **common_kw
                )
                after[model] = launch("fusionrec", model, "movielens-100k-mm", args, **common_kw)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=HERE)
        sections += [
            "",
            f"## Multimodal graph models on movielens-100k-mm (text + posters), "
            f"{args.mm_epochs} epochs, seed 2026: baseline {args.baseline} vs this commit",
            "",
            *mm_table(before, after, args),
            NOTES,
        ]
    load_after = os.getloadavg()
    sections.append(f"- load average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    text = "\n".join(sections)
    write_result(out, text)
    raw = {"toolkits": {"|".join(k): v for k, v in results.items()}}
    if not args.skip_mm:
        raw["mm"] = {"before": before, "after": after, "baseline": args.baseline}
    write_json_result(out.with_suffix(".json"), raw)
    print(text)


if __name__ == "__main__":
    main()
