"""The model comparison on movielens-100k-mm: every model tuned with the same budget on
validation, then three seeds of the chosen setting, test scored once per seed.

Protocol (issue 8): the canonical split file ``split-8-1-1.inter`` (so numbers compare with
other toolkits run on it); for every trainable model ``search.n_trials`` trials of
``fusionrec tune`` (Optuna TPE, validation Recall@20 only, the same trial budget and the same
training settings for baselines and multimodal models); the chosen setting trained with the
spec's seeds; test Recall/NDCG scored once per seed with the best-validation weights. The
"best multimodal model" is the one with the highest mean *validation* Recall@20; its test
numbers are then compared with the tuned LightGCN's, margin against the larger sample std.

Each model runs in its own subprocess (its peak memory is its own) on the same split and
cached features, and leaves ``<runs>/<model>/bench.json`` (with the commit it ran at). The
table is rewritten whole after every model from the ``bench.json`` files of the selected
models in ``--runs`` (``--collect`` only rewrites it; rows from other commits are flagged).

Resumable: a model's search runs with ``tune(..., resume=True)`` (recorded trials are replayed,
not retrained; a finished best run is reused, an unfinished one continued from its
checkpoints), and a model whose ``bench.json`` exists is not run again (``--fresh`` runs it
again). Independent lanes may share one ``--runs`` directory when given disjoint ``--models``.

    python benchmarks/bench_movielens.py [--spec benchmarks/movielens_study.yaml]
        [--models a,b] [--trials 20] [--threads 1] [--jobs 1] [--runs runs/bench-movielens]
        [--collect] [--fresh]

Cost: 20 trials of up to 300 epochs per model; on a 2-core CPU the graph models take hours
each (MGCN ~7 s/epoch), so run it on a quiet machine or a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    budget_note,
    device_note,
    device_of,
    header,
    provenance,
    space_note,
    trial_code_note,
    versions_note,
    write_result,
)
from paired import paired, paired_table, paired_text

HERE = Path(__file__).resolve().parent
SPEC = HERE / "movielens_study.yaml"
ID_MODELS = {"most-popular", "itemknn", "ease", "mf-bpr", "lightgcn"}
SHOWN = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
AIM = 0.39  # issue 8: a multimodal model should reach test Recall@20 >= 0.39


def child(spec_path: Path, model: str, runs: Path, threads: int, trials: int | None) -> None:
    """Tune (or just train, for models without a search space) one model; print its record."""
    import torch
    import yaml

    from fusionrec.train.study import study_configs

    torch.set_num_threads(threads)
    spec = yaml.safe_load(spec_path.read_text())
    # schema defaults under the searched space: the presets are what these searches chose
    cfg = next(c for c in study_configs(spec, presets=False) if c.model.name == model)
    # the trainer would otherwise use every core, whatever torch was told above
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"threads": threads})})
    out = runs / model
    if trials is not None:
        cfg = cfg.model_copy(update={"search": {**(cfg.search or {}), "n_trials": trials}})
    run, chosen, n_trials = tune_or_train(cfg, out)
    final = json.loads((run / "results.json").read_text())
    record = {
        "model": model,
        "chosen": chosen,
        "trials": n_trials,
        "valid": final["valid"],
        "test": final["test"],
        "per_seed": seed_rows(final),
        "threads": threads,
        "device": device_of(cfg.train.device),
        **provenance(),
    }
    emit(out, record)


def tune_or_train(cfg: Any, out: Path) -> tuple[Path, dict[str, Any], int]:
    """Search ``cfg``'s model in ``out`` (resuming); a model with nothing to tune (no space in
    the config, none shipped) trains its seeds once in ``out`` instead of asking ``tune`` for
    a search it would refuse. Returns the finished run's folder, the chosen setting and the
    number of trials."""
    from fusionrec.train.experiment import run_experiment
    from fusionrec.train.tune import shipped_space, tune

    if (cfg.search or {}).get("space") or shipped_space(cfg.model.name) is not None:
        summary = tune(cfg, out, progress=False, resume=True)
        return out / "best", summary["best_params"], len(summary["trials"])
    run_experiment(cfg.model_copy(update={"search": None}), out, progress=False)
    return out, {}, 0


def seed_rows(final: dict[str, Any]) -> list[dict[str, Any]]:
    """What the table needs of each seed of a finished run's ``results.json``."""
    keys = ("seed", "epochs", "best_epoch", "seconds_per_epoch", "peak_memory_mb")
    return [{k: s[k] for k in keys} for s in final["per_seed"]]


def emit(out: Path, record: dict[str, Any]) -> None:
    """A child's record: ``<out>/bench.json`` and one ``RESULT`` line for the parent."""
    (out / "bench.json").write_text(json.dumps(record, indent=1, default=float))
    print("RESULT " + json.dumps(record, default=float))


JOBS_HELP = (
    "models run at once, each in its own process with --threads torch threads (on a GPU "
    "machine they share the GPU); default 1"
)


def run_child(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--spec", str(args.spec), "--child", name]
    cmd += ["--runs", str(args.runs), "--threads", str(args.threads)]
    if args.trials is not None:
        cmd += ["--trials", str(args.trials)]
    return child_record(cmd, name)


def each_model(
    args: argparse.Namespace,
    names: list[str],
    run: Callable[[argparse.Namespace, str], dict[str, Any] | None],
) -> Iterator[dict[str, dict[str, Any]]]:
    """The records so far, in ``names`` order: first the finished models' ``bench.json``
    (unless ``args.fresh``), then again each time ``run(args, name)`` returns for one of the
    others (none with ``args.collect``), ``args.jobs`` of them at a time; a model whose run
    failed is left out. The caller rewrites its table after each."""
    done: dict[str, dict[str, Any]] = {}
    todo = []
    for name in names:
        path = args.runs / name / "bench.json"
        if path.exists() and not args.fresh:
            done[name] = json.loads(path.read_text())
        elif not args.collect:
            todo.append(name)
    yield {n: done[n] for n in names if n in done}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        running = {pool.submit(run, args, name): name for name in todo}
        for future in as_completed(running):
            name, record = running[future], future.result()
            if record is None:
                continue
            done[name] = record
            print(name, {k: fmt(record["test"][k]) for k in SHOWN}, flush=True)
            yield {n: done[n] for n in names if n in done}


def child_record(cmd: list[str], name: str) -> dict[str, Any] | None:
    """Run one child process; its ``RESULT`` record, or None (and its error) if it failed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        print(f"{name} failed:\n{proc.stderr[-3000:]}", flush=True)
        return None
    return json.loads(line[0][len("RESULT ") :])


def fmt(metric: dict[str, float]) -> str:
    """``mean ± std``; ``-`` for a mean over no users (a group with nothing held out)."""
    if math.isnan(metric["mean"]):
        return "-"
    return f"{metric['mean']:.4f} ± {metric['std']:.4f}"


def best_multimodal(
    results: dict[str, dict[str, Any]], id_models: set[str] | list[str], pending: list[str]
) -> tuple[str, str, dict[str, Any], dict[str, Any]] | None:
    """The multimodal model with the highest mean *validation* Recall@20, the line that names
    it, LightGCN's and its test metrics; None without lightgcn or a multimodal row. While
    multimodal models are ``pending`` the line says the pick is provisional."""
    mm = {n: r for n, r in results.items() if n not in id_models}
    if "lightgcn" not in results or not mm:
        return None
    best = max(mm, key=lambda n: mm[n]["valid"]["recall@20"]["mean"])
    waiting = [n for n in pending if n not in id_models]
    among = (
        f" among the {len(mm)} finished multimodal models (**provisional**: "
        f"{', '.join(waiting)} still to run)"
        if waiting
        else ""
    )
    line = (
        f"- best multimodal model on **validation** Recall@20{among}: **{best}** "
        f"({mm[best]['valid']['recall@20']['mean']:.4f} vs lightgcn "
        f"{results['lightgcn']['valid']['recall@20']['mean']:.4f}); its test numbers, scored once:"
    )
    return best, line, results["lightgcn"]["test"], mm[best]["test"]


def needs(results: dict[str, Any], id_models: set[str] | list[str]) -> str:
    """The verdict line while the comparison cannot be made yet: what the table lacks."""
    missing = [] if "lightgcn" in results else ["tuned lightgcn"]
    if not any(m not in id_models for m in results):
        missing.append("multimodal model")
    return f"- verdict: not yet: the table has no {' and no '.join(missing)}"


def beat_word(margin: float, bar: float, low: float) -> str:
    """ "Beats" needs both: a mean margin above the larger seed std and a paired interval over
    the test users (lower end ``low``) that excludes zero; one without the other says which."""
    spread = f"the larger sample std ({bar:.4f})"
    if margin > bar and low > 0:
        return f"beats it by more than {spread}, and paired over users"
    if margin > bar:
        return f"ahead by more than {spread}, but NOT beyond chance paired over users"
    return f"does NOT beat it by more than {spread}"


def verdict(results: dict[str, dict[str, Any]], pending: list[str], runs: Path) -> list[str]:
    """Best multimodal model chosen on validation; its test numbers against tuned LightGCN,
    over seeds and paired over users (``paired``)."""
    found = best_multimodal(results, ID_MODELS, pending)
    if found is None:
        return [needs(results, ID_MODELS)]
    best, line, base, t = found
    over_users, facts = paired(runs, best, "lightgcn")
    lines = [line]
    for k in ("recall@20", "ndcg@20"):
        margin = t[k]["mean"] - base[k]["mean"]
        bar = max(t[k]["std"], base[k]["std"])
        lines.append(
            f"  - test {k}: {best} {fmt(t[k])} vs tuned lightgcn {fmt(base[k])}, margin "
            f"{margin:+.4f}: {beat_word(margin, bar, over_users[k]['low'])}"
        )
    lines += paired_text(best, "lightgcn", over_users, facts)
    reached = t["recall@20"]["mean"] >= AIM
    lines.append(
        f"  - aim test Recall@20 >= {AIM}: {'reached' if reached else 'not reached'} "
        f"({t['recall@20']['mean']:.4f})"
    )
    return lines


def seconds_cell(per: list[dict[str, Any]]) -> str:
    """Mean s/epoch over the seeds that timed their training. A seed that recorded exactly 0.0
    did not (one resumed after it had stopped, from a checkpoint older than the trainer's
    per-epoch timings, 5e57d24; a closed-form fit from before fits were timed): it is left
    out, and the cell says how many seeds the mean covers."""
    timed = [s["seconds_per_epoch"] for s in per if s["seconds_per_epoch"] > 0]
    if not timed:
        return "not recorded"
    mean = f"{sum(timed) / len(timed):.2f}"
    return mean if len(timed) == len(per) else f"{mean} ({len(timed)} of {len(per)} seeds)"


def row_facts(r: dict[str, Any], skip: tuple[str, ...] = ()) -> tuple[str, str, float, str]:
    """A record's chosen setting (short keys, ``skip`` left out), mean s/epoch
    (``seconds_cell``) and epochs over seeds, and its commit."""
    per = r["per_seed"]
    chosen = ", ".join(
        f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
        for k, v in r["chosen"].items()
        if k not in skip
    )
    spe = seconds_cell(per)
    epochs = sum(s["epochs"] for s in per) / len(per)
    return chosen, spe, epochs, r["commit"][:9] + ("+dirty" if r["dirty"] else "")


#: The trainer's default became every core at this commit; this script passed ``--threads``
#: to it (and recorded it) only later, so an unrecorded row from a descendant used every core.
ALL_CORES_FROM = "02fbb15"


def threads_of(record: dict[str, Any]) -> str:
    """The torch threads a row trained with (see ``ALL_CORES_FROM`` for old rows)."""
    if "threads" in record:
        return str(record["threads"])
    probe = ["git", "merge-base", "--is-ancestor", ALL_CORES_FROM, record["commit"]]
    after = subprocess.run(probe, cwd=HERE, capture_output=True, check=False).returncode == 0
    return "all" if after else "--threads"


def write(args: argparse.Namespace, spec: dict[str, Any], results: dict[str, Any]) -> None:
    cols = " | ".join(f"test {k}" for k in SHOWN)
    rows = [
        f"| model | kind | trials | chosen setting | valid recall@20 | {cols} | s/epoch | "
        "threads | epochs | peak MB | commit |",
        "|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|---|---|",
    ]
    for name, r in results.items():
        per = r["per_seed"]
        chosen, spe, epochs, commit = row_facts(r)
        rows.append(
            f"| {name} | {'ids' if name in ID_MODELS else 'multimodal'} | {r['trials']} | "
            f"{chosen or 'defaults'} | {fmt(r['valid']['recall@20'])} | "
            + " | ".join(fmt(r["test"][k]) for k in SHOWN)
            + f" | {spe} | {threads_of(r)} | {epochs:.0f} | "
            f"{max(s['peak_memory_mb'] for s in per):.0f} | "
            f"{commit} |"
        )
    commits = {r["commit"] + ("+dirty" if r["dirty"] else "") for r in results.values()}
    setup = [
        f"- split: {spec['split']} (canonical file); seeds {spec['seeds']}; "
        f"features {spec.get('features')}",
        f"- training: {spec['train']}; early stopping on validation Recall@20; test scored once "
        "per seed with the best-validation weights",
        f"- tuning: Optuna TPE on validation Recall@20, "
        f"{args.trials or spec.get('search', {}).get('n_trials')} trials per model with a search "
        "space (the same budget for baselines and multimodal models); the trial runs use the "
        "first seed; each model's space is the one it ships (src/fusionrec/presets/spaces/) "
        "unless the next line says otherwise",
        space_note(args.runs, list(results)),
        budget_note(
            {m: r["trials"] for m, r in results.items()},
            args.trials or spec.get("search", {}).get("n_trials"),
        ),
        "- each model in its own process, with the torch threads of its `threads` column; "
        "mean ± sample std (ddof=1) over seeds; s/epoch is wall time on a machine shared with "
        "the other models' runs (see the load average above), not a speed benchmark",
    ]
    unrecorded = [name for name, r in results.items() if "threads" not in r]
    if unrecorded:
        setup.append(
            f"- {', '.join(unrecorded)}: run before the thread count was recorded; `all`: at "
            f"a commit whose trainer used every core whatever `--threads` said (from "
            f"{ALL_CORES_FROM}), `--threads`: the run's own `--threads`"
        )
    setup.append(device_note(results))
    versions = versions_note(commits)
    if versions:
        setup.append(versions)
    mixed = trial_code_note({m: args.runs / m for m in results})
    if mixed:
        setup.append(mixed)
    pending = [m["name"] for m in spec["models"] if m["name"] not in results]
    if pending:
        setup.append(f"- not (yet) in this table: {', '.join(pending)}")
    text = header("Model comparison on movielens-100k-mm (tuned, canonical split)")
    lines = [*setup, "", *rows, "", *verdict(results, pending, args.runs)]
    if "lightgcn" in results:
        lines += ["", *paired_table(args.runs, list(results))]
    text += "\n".join(lines)
    write_result(args.out, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--models", default=None, help="comma-separated subset of the spec's models")
    ap.add_argument("--trials", type=int, default=None, help="override search.n_trials")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help=JOBS_HELP)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-movielens"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--collect", action="store_true", help="table from finished runs only")
    ap.add_argument("--fresh", action="store_true", help="re-run models with a bench.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "movielens_models.md")
    args = ap.parse_args()
    if args.child:
        child(args.spec, args.child, args.runs, args.threads, args.trials)
        return
    import torch

    torch.set_num_threads(args.threads)  # this process re-scores runs (paired tests) too
    import yaml

    spec = yaml.safe_load(args.spec.read_text())
    names = [m["name"] for m in spec["models"]]
    if args.models:
        unknown = set(args.models.split(",")) - set(names)
        if unknown:
            ap.error(f"--models: not in {args.spec}: {sorted(unknown)}")
        names = [n for n in names if n in args.models.split(",")]
    for results in each_model(args, names, run_child):
        write(args, spec, results)


if __name__ == "__main__":
    main()
