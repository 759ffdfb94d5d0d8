"""Validation-only probes of the sequential models' settings, and the table of every probe kept.

How a default or a study setting of SASRec and MM-SASRec is chosen: one seed of one setting
per call, trained with ``bench_sequential.py``'s settings (movielens-100k-mm, or with
``--dataset`` the sparse movielens-latest-small-mm; leave-one-out, text + posters, early
stopping on validation NDCG@10), scored on validation only; test is
never read. Each probe is kept as one JSON record under ``--records`` (committed, so the
choice travels with the code), and ``report`` writes every record into one table, each
setting's seeds side by side: compare settings seed by seed, never a mean over different
seeds. ``--params`` change ``bench_sequential.PROBE_BASE`` (the study's settings before any
choice made on validation), so a record keeps its meaning when the study adopts a setting.

    python benchmarks/probe_sequential.py run mmsasrec --tag mm-gate-3 --seed 2 \
        --params '{"gate_init": -3.0}'
    python benchmarks/probe_sequential.py run sasrec --tag sasrec-stride25 --seed 1 \
        --params '{"window_stride": 25}' --dataset movielens-latest-small-mm \
        [--features-from DIR]
    python benchmarks/probe_sequential.py report
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench_sequential import DATASETS
from common import RESULTS, header, machine, provenance, write_result
from fusionrec.config import ExperimentConfig
from fusionrec.io import read_json, write_json

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "state" / "sequential_probes"
METRIC = "ndcg@10"


def probe_config(args: argparse.Namespace, params: dict[str, Any]) -> ExperimentConfig:
    """The study's run of ``args.model`` with ``params`` changed from ``PROBE_BASE`` (not from
    the settings the study has since chosen, which would change what older records mean)."""
    from bench_sequential import PROBE_BASE, make_config

    study = argparse.Namespace(
        seeds=1,
        epochs=args.epochs,
        threads=1,
        device=args.device,
        features_from=args.features_from,
        dataset=args.dataset,
    )
    extra = {"features": {"modalities": args.modalities.split(",")}} if args.modalities else {}
    return make_config(study, args.model, {**PROBE_BASE[args.model], **params}, **extra)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from fusionrec.train.experiment import prepare, run_seed

    params = json.loads(args.params)
    config = probe_config(args, params)
    torch.set_num_threads(1)
    prep = prepare(config, None, progress=False)
    cpu, wall = time.process_time(), time.time()
    rec = run_seed(config, prep, args.seed, None, progress=False, evaluate_test=False)
    record = {
        "tag": args.tag,
        "model": args.model,
        "params": params,
        "resolved": config.model.params,
        "modalities": args.modalities,
        "dataset": args.dataset,
        "seed": args.seed,
        "valid": rec["valid"],
        "epochs": rec["epochs"],
        "best_epoch": rec["best_epoch"],
        "s_per_epoch": rec["seconds_per_epoch"],
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.time() - wall,
        "machine": machine(),
        **provenance(),
    }
    args.records.mkdir(parents=True, exist_ok=True)
    write_json(args.records / f"{record_name(args.tag, args.dataset)}-s{args.seed}.json", record)
    print(json.dumps({k: record[k] for k in ("tag", "seed", "epochs", "best_epoch")}),
          f"valid {METRIC} {record['valid'][METRIC]:.4f}")  # fmt: skip
    return record


def record_name(tag: str, dataset: str) -> str:
    """The dense set's probes keep their bare tags (the first probes had no other set)."""
    return tag if dataset == DATASETS[0] else f"{dataset}-{tag}"


def short_commit(commit: str | None) -> str:
    """A commit's first 9 digits; anything else (a probe from before commits were recorded)
    as "not recorded"."""
    if commit and all(c in "0123456789abcdef" for c in commit):
        return commit[:9]
    return "not recorded"


def setting(record: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(record["params"].items())) or "defaults"
    if record.get("modalities"):
        params += f"; modalities {record['modalities']}"
    return params


def report(args: argparse.Namespace) -> str:
    records = [read_json(p) for p in sorted(args.records.glob("*.json"))]
    if not records:
        raise SystemExit(f"no probe records in {args.records}: run a probe first")
    lines = [
        header("Sequential settings probed on validation (leave-one-out)"),
        f"- each probe: one seed, `bench_sequential.py`'s settings, validation {METRIC} at the "
        "best epoch (early stopping on it); test never read",
        "- compare settings seed by seed (the same seed is the same initialisation and data "
        "order); the mean is over the seeds a row has",
        "- probes ran on a shared CPU (1 torch thread) while other jobs ran: s/epoch is rough",
    ]
    for dataset in DATASETS:
        kept = [r for r in records if r.get("dataset", DATASETS[0]) == dataset]
        if kept:
            lines += ["", f"## {dataset}", "", *probe_table(kept)]
    return "\n".join(lines)


def probe_table(records: list[dict[str, Any]]) -> list[str]:
    """One row per tag, its seeds side by side."""
    seeds = sorted({r["seed"] for r in records})
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_tag.setdefault(r["tag"], []).append(r)
    lines = [
        "| tag | model | setting | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean | best epochs | s/epoch | commit |",
        "|---|---|---|" + "---|" * len(seeds) + "---|---|---|---|",
    ]
    for tag, rows in sorted(by_tag.items(), key=lambda kv: (kv[1][0]["model"], kv[0])):
        at = {r["seed"]: r for r in rows}
        vals = [at[s]["valid"][METRIC] if s in at else None for s in seeds]
        cells = [f"{v:.4f}" if v is not None else "" for v in vals]
        present = [v for v in vals if v is not None]
        commits = sorted({short_commit(r.get("commit")) for r in rows})
        lines.append(
            f"| {tag} | {rows[0]['model']} | {setting(rows[0])} | " + " | ".join(cells)
            + f" | {statistics.fmean(present):.4f} | "
            + ", ".join(str(at[s]["best_epoch"]) for s in seeds if s in at)
            + f" | {statistics.fmean(r['s_per_epoch'] for r in rows):.1f} | "
            + ", ".join(commits) + " |"
        )  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=Path, default=RECORDS)
    sub = ap.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="train one seed of one setting, validation only")
    one.add_argument("model")
    one.add_argument("--tag", required=True, help="the setting's name in the table")
    one.add_argument("--seed", type=int, default=1)
    one.add_argument("--params", default="{}", help="model params as JSON")
    one.add_argument("--modalities", default=None, help="comma-separated, e.g. text")
    one.add_argument("--epochs", type=int, default=200)
    one.add_argument("--device", default="cpu")
    one.add_argument("--dataset", choices=DATASETS, default=DATASETS[0])
    one.add_argument(
        "--features-from",
        type=Path,
        default=None,
        help="read text.npz and image.npz that `fusionrec encode --export DIR` wrote",
    )
    table = sub.add_parser("report", help="write every kept probe into one table")
    table.add_argument("--out", type=Path, default=RESULTS / "sequential_probes.md")
    args = ap.parse_args()
    if args.command == "run":
        run(args)
    else:
        write_result(args.out, report(args))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
