"""The model comparison on movielens-100k-mm: every model, 3 seeds, mean ± std.

Each model runs in its own subprocess (so its peak memory is its own) on the same saved
split and the same cached features. Reported per model: test Recall/NDCG @10/@20 (mean ±
std over seeds), seconds per epoch, epochs, peak resident memory. The verdict line checks the
issue's target: the best multimodal model beats LightGCN on test Recall@20 and NDCG@20 by more
than one standard deviation.

    python benchmarks/bench_movielens.py [--spec benchmarks/movielens_study.yaml]
                                         [--models a,b] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import RESULTS, header

HERE = Path(__file__).resolve().parent
ID_MODELS = {"most-popular", "itemknn", "mf-bpr", "lightgcn"}
SHOWN = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]


def child(spec: Path, model: str, out_dir: Path, threads: int) -> None:
    import torch
    import yaml

    from fusionrec.train.study import run_study

    torch.set_num_threads(threads)
    results = run_study(yaml.safe_load(spec.read_text()), out_dir, progress=False, only=[model])
    print("RESULT " + json.dumps(next(iter(results.values())), default=float))


def fmt(metric: dict) -> str:
    return f"{metric['mean']:.4f} ± {metric['std']:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", type=Path, default=HERE / "movielens_study.yaml")
    ap.add_argument("--models", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-movielens"))
    ap.add_argument("--child", default=None)
    ap.add_argument(
        "--collect", action="store_true", help="only rebuild the table from finished runs"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "movielens_models.md")
    args = ap.parse_args()
    if args.child:
        child(args.spec, args.child, args.runs, args.threads)
        return
    import torch

    torch.set_num_threads(args.threads)
    import yaml

    spec = yaml.safe_load(args.spec.read_text())
    names = [m["name"] for m in spec["models"]]
    if args.models:
        names = [n for n in names if n in args.models.split(",")]
    results = {}
    if args.collect:
        for name in names:
            path = args.runs / name / "results.json"
            if path.exists():
                results[name] = json.loads(path.read_text())
        write(args, spec, results)
        return
    for name in names:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--spec",
                str(args.spec),
                "--child",
                name,
                "--runs",
                str(args.runs),
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(f"{name} failed:\n{proc.stderr[-2000:]}", flush=True)
            continue
        results[name] = json.loads(line[0][len("RESULT ") :])
        r = results[name]
        print(name, {k: fmt(r["test"][k]) for k in SHOWN}, flush=True)
        write(args, spec, results)


def write(args: argparse.Namespace, spec: dict, results: dict) -> None:
    rows = [
        "| model | kind | "
        + " | ".join(f"test {k}" for k in SHOWN)
        + " | s/epoch | epochs | peak MB |",
        "|---|---|" + "---|" * (len(SHOWN) + 3),
    ]
    for name, r in results.items():
        per = r["per_seed"]

        def mean(key: str, per: list = per) -> float:
            return sum(s[key] for s in per) / len(per)

        kind = "ids" if name in ID_MODELS else "multimodal"
        rows.append(
            f"| {name} | {kind} | "
            + " | ".join(fmt(r["test"][k]) for k in SHOWN)
            + f" | {mean('seconds_per_epoch'):.2f} | {mean('epochs'):.0f} | "
            f"{max(s['peak_memory_mb'] for s in per):.0f} |"
        )
    verdict = ""
    mm = {n: r for n, r in results.items() if n not in ID_MODELS}
    if "lightgcn" in results and mm:
        base = results["lightgcn"]["test"]
        best = max(mm, key=lambda n: mm[n]["test"]["recall@20"]["mean"])
        t = mm[best]["test"]
        checks = []
        for k in ("recall@20", "ndcg@20"):
            margin = t[k]["mean"] - base[k]["mean"]
            bar = max(t[k]["std"], base[k]["std"])
            checks.append(margin > bar)
            verdict += (
                f"- {best} vs lightgcn, test {k}: {t[k]['mean']:.4f} vs "
                f"{base[k]['mean']:.4f}, margin {margin:+.4f}, larger std {bar:.4f}: "
                f"{'beats by more than one std' if margin > bar else 'NOT by more than one std'}\n"
            )
    setup = (
        f"- split: {spec['split']}; seeds {spec['seeds']}; features {spec.get('features')}\n"
        f"- training: {spec['train']} (early stopping on validation Recall@20; test scored "
        "once per seed)\n"
        f"- each model in its own process, {args.threads} torch threads\n"
    )
    if args.collect:
        setup += (
            f"- rows collected from the finished runs in {args.runs} (trained by this script)\n"
        )
    text = header("Model comparison on movielens-100k-mm") + setup + "\n" + "\n".join(rows)
    text += "\n\n" + verdict
    args.out.write_text(text)


if __name__ == "__main__":
    main()
