"""Carry a long study's progress across machines: the small files a search resumes from.

The sparse study (``bench_sparse.py``) is tens of CPU-hours, more than one session of a
machine that is replaced between sessions, and its runs folder (weights, checkpoints) is
hundreds of MB. What resuming needs is small: a search replays the trials in its
``trials.json`` (``fusionrec tune`` resume) and a finished model is read back from its
``bench.json`` with the per-user and per-bucket test scores the table caches beside its best
run. ``save`` copies exactly those files into ``--state`` (a folder committed with the code),
``restore`` copies them back into a runs folder before the study is started again, keeping
for each model whichever of the two got further.

- a finished model (its ``bench.json`` exists): ``bench.json``, ``search_config.yaml``,
  ``trials.json``, ``tune.json``, ``best_config.yaml`` and, from ``best/``, ``config.yaml``,
  ``results.json``, ``manifest.json``, ``per_user_test.json``, ``by_popularity.json``. Run
  the study's ``--collect`` before ``save`` so the last two exist: they are computed from the
  weights, which do not travel.
  A model without a search space keeps the same files of its own folder.
- a finished run of ``bench_sequential.py`` (``--runs`` its ``masked`` folder):
  ``config.yaml``, ``results.json``, ``manifest.json`` and the ``per_user_test.json`` its
  ``--collect`` caches for the paired test (collect before ``save``), all its table reads, so
  a machine that lost the runs collects the table again without training; likewise a
  finished search of its ``--trials`` (``--runs`` its ``tuned`` folder): the search files and
  its ``best/`` seeds' files, once collected;
- a model still searching: ``search_config.yaml`` and ``trials.json`` only (a best run
  without its weights could not be scored for the table, so it trains again);
- RecBole's cached runs: ``recbole/*.json``, and the blend probe's ``blend.json``; a RecBole
  run still training: its ``recbole/saved/<model>-seed<seed>/resume.pth`` (weights, optimiser,
  random states and best weights after its last validation, a few MB), so a CPU seed of hours
  continues on the next machine from its last epoch (restored only where the runs folder has
  none);
- ``bench_defaults.py``'s runs folder: each model's ``dense/`` and ``sparse/candidates.json``
  (every candidate's validation scores), so its choice resumes too.

A trial that was training when the machine went away is lost and runs again.

    python benchmarks/bench_state.py save --runs RUNS --state benchmarks/state/sparse
    python benchmarks/bench_state.py restore --runs RUNS --state benchmarks/state/sparse
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

FINISHED = (
    "bench.json",
    "search_config.yaml",
    "trials.json",
    "tune.json",
    "best_config.yaml",
    "best/config.yaml",
    "best/results.json",
    "best/per_user_test.json",
    "best/by_popularity.json",
    "best/manifest.json",
    # a model without a search space keeps its run in its own folder
    "config.yaml",
    "results.json",
    "per_user_test.json",
    "by_popularity.json",
    "manifest.json",
)
#: also ``bench_defaults.py``'s per-study candidate cache
SEARCHING = ("search_config.yaml", "trials.json", "dense/candidates.json", "sparse/candidates.json")


def finished(model: Path) -> bool:
    """A sparse-study model with its table row (``bench.json``), a finished run of
    ``bench_sequential.py`` (``results.json``), or a search of ``bench_sequential.py
    --trials`` whose chosen setting trained every seed and was collected (``best/`` with its
    per-user test scores; a sparse-study model has them only beside its ``bench.json``)."""
    return any(
        (model / name).exists()
        for name in ("bench.json", "results.json", "best/per_user_test.json")
    )


def kept_files(runs: Path) -> list[Path]:
    """The files of ``runs`` that ``save`` keeps, relative to ``runs``."""
    out = []
    for model in sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "recbole"):
        names = FINISHED if finished(model) else SEARCHING
        out += [model.relative_to(runs) / n for n in names if (model / n).exists()]
    if (runs / "blend.json").exists():  # bench_sparse's blend probe, computed from weights
        out.append(Path("blend.json"))
    if (runs / "recbole").is_dir():
        cached = sorted((runs / "recbole").glob("*.json"))
        out += [p.relative_to(runs) for p in cached]
        out += [
            p.relative_to(runs)
            for p in sorted((runs / "recbole" / "saved").glob("*/resume.pth"))
            if not any(c.name.startswith(f"{p.parent.name}-epochs") for c in cached)
        ]
    return out


def save(runs: Path, state: Path) -> list[Path]:
    """Replace ``state`` with the kept files of ``runs`` (a model that went back to searching
    must not keep an old ``bench.json``)."""
    files = kept_files(runs)
    for model in sorted({f.parts[0] for f in files if f.name == "bench.json"}):
        if not any(f.parts[0] == model and f.name == "per_user_test.json" for f in files):
            print(
                f"warning: {model} is finished but its per-user test scores are not cached: "
                "run the study with --collect first, or its row cannot be paired later"
            )
    fresh = state.with_name(state.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    for rel in files:
        (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(runs / rel, fresh / rel)
    fresh.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(state, ignore_errors=True)
    fresh.rename(state)
    return files


def progress(model: Path) -> tuple[bool, int]:
    """How far a model's study got in a folder: finished, then the number of recorded trials."""
    trials = model / "trials.json"
    count = len(json.loads(trials.read_text() or "[]")) if trials.exists() else 0
    return finished(model), count


def restore(runs: Path, state: Path) -> list[Path]:
    """Copy ``state`` into ``runs``, model by model, keeping the further progress: a model the
    state has further along (finished, or more recorded trials) replaces the runs folder's
    kept files; otherwise only the files the runs folder lacks are copied. So the progress of
    two machines merges: restore what one saved into the other's runs folder (stop its
    study first)."""
    if not state.is_dir():
        raise SystemExit(f"no saved state at {state}")
    further = {
        m.name
        for m in state.iterdir()
        if m.is_dir() and m.name != "recbole" and progress(m) > progress(runs / m.name)
    }
    for name in further:  # a best run trained here would not be the one the state scored
        if (state / name / "bench.json").exists():
            shutil.rmtree(runs / name / "best", ignore_errors=True)
    copied = []
    for src in sorted(p for p in state.rglob("*") if p.is_file()):
        rel = src.relative_to(state)
        if rel.parts[0] in further or not (runs / rel).exists():
            (runs / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, runs / rel)
            copied.append(rel)
    return copied


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["save", "restore"])
    ap.add_argument("--runs", type=Path, required=True, help="the study's runs folder")
    ap.add_argument("--state", type=Path, required=True, help="where the kept files live")
    args = ap.parse_args()
    if args.action == "save":
        files = save(args.runs, args.state)
    else:
        files = restore(args.runs, args.state)
    models = sorted({f.parts[0] if len(f.parts) > 1 else "the blend probe" for f in files})
    print(f"{args.action}: {len(files)} files of {', '.join(models) or 'nothing'}")


if __name__ == "__main__":
    main()
