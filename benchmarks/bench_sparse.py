"""Where content matters: every model on the sparse movielens-latest-small-mm, tuned with the
same budget on validation, then three seeds of the chosen setting, RecBole beside it.

Protocol (issue 14), the dense study's (``bench_movielens.py``) on the sparse catalogue:
- data: ``benchmarks/sparse_study.yaml``: the canonical split file ``split-8-1-1.inter``
  (80,649 / 10,093 / 10,093), text (title, genres, tags) and posters, the training settings
  of ``movielens_study.yaml`` (<= 300 epochs, lr 1e-3, batch 2048, patience 20, early stop
  on validation Recall@20);
- models: MostPopular, ItemKNN, MF-BPR, LightGCN, EASE (the dense study's id models) and every
  registered multimodal recommender (read from the model
  registry, ``cold-transfer`` included: 776 movies have no training rating and take 4.2 % of
  the test ratings, and its content score reaches every movie; the sequential MM-SASRec is
  left out: the split is a random permutation of each user's ratings, not their time order,
  and ``bench_sequential.py`` scores it on leave-one-out). Each model's space is the one it
  ships (``presets/spaces/<model>.yaml``, the dense study's); a multimodal model's space adds
  the modality set (text only, posters only, both: ``search.modality_sets``), chosen on
  validation per model;
- tuning: ``fusionrec tune`` (Optuna TPE, validation Recall@20 only), ``--trials`` trials per
  model (default 20, the dense study's), the trials on the first seed; then the chosen setting
  with every seed, test scored once per seed with the best-validation weights;
- the best multimodal model is the one with the highest mean *validation* Recall@20; its test
  numbers are compared with the tuned LightGCN's (goal: >= +15 % Recall@20, and an NDCG@20
  margin larger than the larger seed std); when another id model is better on validation
  (EASE here), it is compared with that one too: what content adds over the ids alone;
- missing posters: movies without a poster keep a masked (zero, flagged) image row; test
  Recall@20 is also reported per user restricted to held-out movies with / without a poster;
- RecBole 1.2.1 BPR and LightGCN on the same split (``recbole_runner.run_general``; emb 64,
  Adam lr 1e-3, batch 2048, patience 20, <= 300 epochs, full ranking), same seeds.

Resumable: each model runs in its own subprocess in ``<runs>/<model>`` with
``tune(..., resume=True)``: recorded trials are replayed, not retrained, a finished best run
is reused and an unfinished one continued from its checkpoints; a model whose ``bench.json``
exists is not run again (``--fresh`` runs it again, ``--collect`` only rewrites the table).
RecBole runs are cached per (model, seed) in ``<runs>/recbole/``.
On machines replaced between sessions, ``bench_state.py save`` keeps what resuming needs
(each search's ``trials.json``, each finished model's record and cached per-user scores) in
``benchmarks/state/sparse``, committed, and ``bench_state.py restore`` puts it back into a new
runs folder; run ``--collect`` before saving, so finished models carry their per-user scores.
While the study is incomplete, write its table elsewhere (``--out <runs>/sparse_quality.md``).

    python benchmarks/bench_sparse.py [--models mf-bpr,lightgcn,mgcn] [--trials 20]
        [--threads 1] [--jobs 1] [--runs runs/bench-sparse] [--no-recbole] [--collect]
        [--compact]
    # smoke test: --trials 2 --epochs 3 --seeds 1 --recbole-epochs 2 --runs /tmp/x --out /tmp/x.md

``--compact`` also prints a short markdown table (test Recall@20 / NDCG@20 per model and
RecBole) for the README; the full file is ``benchmarks/results/sparse_quality.md``.

Cost. A trial is up to 300 epochs plus one validation pass per epoch (early stopping with
patience 20 usually ends it sooner); a model is ``--trials`` trials plus one run per seed.
One training epoch on this dataset, measured with ``--time-epoch`` (defaults, text + posters,
one torch thread) at 13eee9e on the 2-core development CPU while two other single-thread
benchmarks shared it (load 3), in seconds: mf-bpr 0.15, lightgcn 0.8, content-knn 0 (closed
form; 0.5 per validation), bm3 2.0, freedom 2.1, lattice 4.0 (1.7 per validation), vbpr 6.5,
mgcn 7.5, smore 11, adv-fusion 12, mtl-fusion 15, mentor 23, diffmm 40 (mmsasrec, not in
the study, 66); every other validation pass is under 0.6 s. The closed-form ease and content-ease
have no epochs: one fit (a 9,742 x 9,742 float64 solve) took 40 and 50 s at 77d702a, with
another benchmark on the other core. Since 760341d VBPR projects only
a batch's items: 1.0 CPU s/epoch (3.8 before, measured side by side). At ~80 epochs a run, 20 trials
and 3 seeds of every model are about 60 CPU-hours, most of it diffmm and mentor: run it on a
GPU, or in parallel lanes over several sessions (it resumes), or lower ``--trials`` for
every model alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from bench_movielens import (
    JOBS_HELP,
    best_multimodal,
    child_record,
    each_model,
    emit,
    fmt,
    needs,
    row_facts,
    seed_rows,
    tune_or_train,
)
from common import (
    RESULTS,
    budget_note,
    device_note,
    device_of,
    header,
    mean_std,
    provenance,
    space_note,
    trial_code_note,
    versions_note,
    write_json_result,
    write_result,
)
from paired import (
    paired,
    paired_lines,
    paired_table,
    paired_text,
    per_user_test,
    results_stamp,
    run_of,
)

HERE = Path(__file__).resolve().parent
SPEC = HERE / "sparse_study.yaml"
#: the dense study's id models; most-popular has nothing to tune and trains once
ID_MODELS = ["most-popular", "itemknn", "mf-bpr", "lightgcn", "ease"]
RECBOLE = ["BPR", "LightGCN"]
#: RecBole's early stopping patience (epochs without a better validation Recall@20), as the
#: issue ran it; recorded in each cached run and checked when it is read back
RECBOLE_PATIENCE = 20
SHOWN = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
GOAL = 0.15  # issue 14: the best multimodal model >= +15 % test Recall@20 over LightGCN


def sequential_models() -> list[str]:
    from fusionrec.models import MODELS

    return sorted(n for n, c in MODELS.items() if c.requires_features and c.sequential)


def model_names() -> list[str]:
    """MF-BPR, LightGCN and every registered multimodal model but the excluded ones and the
    sequential ones: the canonical split is a random permutation of each user's ratings, not
    their time order, so a next-item model would be scored off its protocol (MM-SASRec is
    benchmarked on leave-one-out by ``bench_sequential.py``), as in the dense study."""
    from fusionrec.models import MODELS

    mm = sorted(n for n, c in MODELS.items() if c.requires_features and not c.sequential)
    return ID_MODELS + mm


def study_config(args: argparse.Namespace, model: str) -> Any:
    """The experiment config ``fusionrec tune`` gets for ``model``."""
    from fusionrec.config import deep_merge, validate_config
    from fusionrec.models import MODELS

    spec = yaml.safe_load(args.spec.read_text())
    update: dict[str, Any] = {
        "name": model,
        "model": {"name": model},
        # the model's shipped space; a multimodal model also searches its modality set
        "search": {"n_trials": args.trials, "modality_sets": MODELS[model].requires_features},
        "train": {"threads": args.threads},
    }
    if args.device:  # only when asked: a CPU run's config stays as the saved searches have it
        update["train"]["device"] = args.device
    if args.features_from:  # the same matrices and masks, read instead of encoded
        from fusionrec.encoders.precomputed import exported_files

        names = spec["features"]["modalities"]
        update["features"] = {"precomputed": exported_files(args.features_from, names)}
    if args.epochs:
        update["train"]["epochs"] = args.epochs
    if args.seeds:
        update["seeds"] = spec["seeds"][: args.seeds]
    return validate_config(deep_merge(spec, update), source=f"{args.spec} ({model})")


def poster_masks(prep: Any) -> Any:
    """True for the items whose poster was found and encoded (the image mask)."""
    return prep.features["image"].mask


def recall_by_group(
    run_dir: Path, prep: Any, config: Any, groups: dict[str, Any]
) -> dict[str, Any]:
    """Test Recall@20 per user, restricted to the user's held-out movies in each group (a 0/1
    vector over items), averaged over the users that have at least one such movie; ranking
    and masking exactly as in the main metric. One value per seed, then mean ± std, with the
    group's users and held-out interactions.

    Also each group's ``contribution``: the part of the model's test Recall@20 that its hits
    on the group's movies make (a user's hits there over all the user's held-out movies,
    averaged over every test user), so the contributions of groups that partition the movies
    add up to the test Recall@20 and say where a gain over another model comes from; and its
    ``weight``, the same average of the share of each user's held-out movies in the group
    (the contribution of a model that recalled all of them)."""
    import numpy as np
    import scipy.sparse as sp

    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.evaluate import Evaluator
    from fusionrec.train.reload import load_run_model
    from fusionrec.train.tune import with_modalities

    ds, split = prep.dataset, prep.split
    test = split.matrix(ds, TEST)
    seen = split.matrix(ds, TRAIN) + split.matrix(ds, VALID)
    held_out = np.asarray(test.sum(axis=1)).ravel()
    n_test_users = int((held_out > 0).sum())
    models = [load_run_model(run_dir, s, with_modalities(prep, config))[0] for s in config.seeds]
    for model in models:
        model.eval()
    out: dict[str, Any] = {}
    for group, keep in groups.items():
        target = sp.csr_matrix(test @ sp.diags(keep))
        target.eliminate_zeros()
        evaluator = Evaluator(target, seen, ks=[20])
        users = evaluator.users
        if not len(users):  # no held-out movie in the group: no user to average over
            nan = {"mean": float("nan"), "std": float("nan")}
            none = {"mean": 0.0, "std": 0.0}
            out[group] = {**nan, "users": 0, "items": 0, "contribution": none, "weight": 0.0}
            continue
        share = np.asarray(target.sum(axis=1)).ravel()[users] / held_out[users]
        recalls = [evaluator.per_user(model.score)["recall@20"] for model in models]
        out[group] = {
            **_mean_std([float(r.mean()) for r in recalls]),
            "users": len(users),
            "items": int(target.nnz),
            "contribution": _mean_std([float(r @ share) / n_test_users for r in recalls]),
            "weight": float(share.sum()) / n_test_users,
        }
    return out


def poster_groups(prep: Any) -> dict[str, Any]:
    has = poster_masks(prep).astype("float32")
    return {"with poster": has, "without poster": 1.0 - has}


#: buckets of a held-out movie's number of training ratings
POPULARITY = ((0, 0), (1, 2), (3, 5), (6, 20), (21, None))


def popularity_groups(prep: Any) -> dict[str, Any]:
    """Items by their number of training ratings (``POPULARITY`` buckets)."""
    import numpy as np

    from fusionrec.data.split import TRAIN

    counts = np.asarray(prep.split.matrix(prep.dataset, TRAIN).sum(axis=0)).ravel()
    return {
        (f"{lo}" if lo == hi else f"{lo}-{hi}" if hi else f">{lo - 1}"): (
            (counts >= lo) & (counts <= (hi if hi is not None else np.inf))
        ).astype(np.float32)
        for lo, hi in POPULARITY
    }


def child(args: argparse.Namespace, model: str) -> None:
    """Tune one model (resuming; a model with nothing to tune trains its seeds once), score the
    chosen setting's seeds, print the record."""
    import torch

    from fusionrec.config import read_saved_config
    from fusionrec.train.experiment import prepare

    torch.set_num_threads(args.threads)
    cfg = study_config(args, model)
    out = args.runs / model
    base = cfg.model_copy(update={"search": None})
    run, chosen, n_trials = tune_or_train(cfg, out)
    final = json.loads((run / "results.json").read_text())
    best_cfg = read_saved_config(run / "config.yaml")
    prep = prepare(base, out, progress=False)
    record = {
        "model": model,
        "chosen": chosen,
        "trials": n_trials,
        "modalities": (best_cfg.features or {}).get("modalities")
        if model not in ID_MODELS
        else None,
        "valid": final["valid"],
        "test": final["test"],
        "by_poster": recall_by_group(run, prep, best_cfg, poster_groups(prep)),
        "per_seed": seed_rows(final),
        "device": device_of(cfg.train.device),
        **provenance(),
    }
    emit(out, record)


def _mean_std(values: list[float]) -> dict[str, float]:
    mean, std = mean_std(values)
    return {"mean": mean, "std": std}


def recbole(args: argparse.Namespace, train: bool = True) -> dict[str, Any]:
    """RecBole BPR and LightGCN on the same split, every seed, cached per (model, seed);
    without ``train`` only the cached runs."""
    import torch

    from fusionrec.config import validate_config
    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.io import write_json
    from fusionrec.train.experiment import prepare
    from recbole_runner import drop_stale, run_general, write_benchmark_files

    torch.set_num_threads(args.threads)
    spec = yaml.safe_load(args.spec.read_text())
    seeds = spec["seeds"][: args.seeds] if args.seeds else spec["seeds"]
    folder = args.runs / "recbole"
    epochs = args.recbole_epochs
    results: dict[str, Any] = {}
    data_root: Path | None = None
    settings = {"patience": RECBOLE_PATIENCE, "split": spec["split"]["path"]}
    for model in RECBOLE:
        runs = []
        for seed in seeds:
            path = folder / f"{model}-seed{seed}-epochs{epochs}.json"
            drop_stale(path, settings, may_train=train)
            if not path.exists() and not train:
                continue
            if not path.exists():
                if data_root is None:
                    prep = prepare(validate_config({**spec, "features": None}), progress=False)
                    ds = prep.dataset
                    parts = {}
                    for part, code in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
                        users, items = prep.split.pairs(ds, code)
                        parts[part] = (ds.user_ids[users], ds.item_ids[items])
                    data_root = write_benchmark_files(folder / "data", "sparse", parts)
                run = run_general(
                    model,
                    data_root,
                    "sparse",
                    epochs=epochs,
                    seed=seed,
                    patience=RECBOLE_PATIENCE,
                    checkpoint_dir=folder / "saved",
                )
                write_json(path, {"seed": seed, "settings": settings, **run.numbers()})
            runs.append(json.loads(path.read_text()))
        if not runs:
            continue
        results[model] = {
            "test": {k: _mean_std([r["test"][k] for r in runs]) for k in SHOWN},
            "valid": {"recall@20": _mean_std([r["valid"]["recall@20"] for r in runs])},
            "best_epoch": [r["best_epoch"] for r in runs],
            "epochs_run": [r["epochs_run"] for r in runs],
            "seconds_per_epoch": sum(
                sum(r["train_seconds"]) / len(r["train_seconds"]) for r in runs
            )
            / len(runs),
            "seeds": [r["seed"] for r in runs],
        }
    return results


def time_epochs(args: argparse.Namespace, models: list[str]) -> None:
    """One training epoch of every model with its defaults and both modalities: the cost
    of a trial is about (epochs until early stop) x this."""
    import torch

    from fusionrec.train.experiment import prepare, run_seed

    torch.set_num_threads(args.threads)
    cfg = study_config(args, models[0]).model_copy(update={"search": None})
    prep = prepare(cfg, None, progress=False)
    for model in models:
        one = study_config(args, model)
        one = one.model_copy(
            update={"search": None, "train": one.train.model_copy(update={"epochs": 1})}
        )
        rec = run_seed(one, prep, one.seeds[0], None, progress=False, evaluate_test=False)
        print(
            f"EPOCH {model}: {rec['seconds_per_epoch']:.2f} s/epoch, "
            f"{rec['seconds_per_eval']:.2f} s/validation",
            flush=True,
        )


def run_child(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", name, "--spec", str(args.spec)]
    cmd += ["--runs", str(args.runs), "--threads", str(args.threads), "--trials", str(args.trials)]
    cmd += ["--epochs", str(args.epochs or 0), "--seeds", str(args.seeds or 0)]
    if args.features_from:
        cmd += ["--features-from", str(args.features_from)]
    if args.device:
        cmd += ["--device", args.device]
    return child_record(cmd, name)


def verdict(results: dict[str, dict[str, Any]], pending: list[str], runs: Path) -> list[str]:
    """Best multimodal model chosen on validation; its test numbers against tuned LightGCN,
    over seeds and paired over users (``paired``)."""
    found = best_multimodal(results, ID_MODELS, pending)
    if found is None:
        return [needs(results, ID_MODELS)]
    best, line, base, t = found
    gain = t["recall@20"]["mean"] / base["recall@20"]["mean"] - 1
    over_users, facts = paired(runs, best, "lightgcn")
    diff = over_users["recall@20"]
    margin = t["ndcg@20"]["mean"] - base["ndcg@20"]["mean"]
    bar = max(t["ndcg@20"]["std"], base["ndcg@20"]["std"])
    lines = [
        line,
        f"  - test recall@20: {best} {fmt(t['recall@20'])} vs tuned lightgcn "
        f"{fmt(base['recall@20'])}: {gain:+.1%}; goal >= +{GOAL:.0%}: "
        + goal_word(gain, base["recall@20"]["mean"], diff["low"], diff["high"]),
        f"  - test ndcg@20: {best} {fmt(t['ndcg@20'])} vs tuned lightgcn {fmt(base['ndcg@20'])},"
        f" margin {margin:+.4f}: "
        + ("**more**" if margin > bar else "**NOT more**")
        + f" than the larger seed std ({bar:.4f})",
        *paired_text(best, "lightgcn", over_users, facts),
        *against_best_ids(results, best, runs),
    ]
    return lines


def goal_word(gain: float, base: float, low: float, high: float) -> str:
    """Whether the relative gain meets ``GOAL``, and whether it does beyond chance: the paired
    95 % interval of the Recall@20 difference over users (``low``, ``high``), as a relative
    gain over the base's mean, must lie above the goal for that."""
    span = f"the paired 95 % CI of the gain is {low / base:+.1%} to {high / base:+.1%}"
    if gain < GOAL:
        return f"**NOT met** (short by {100 * (GOAL - gain):.1f} percentage points; {span})"
    if low / base >= GOAL:
        return f"**met**, beyond chance ({span})"
    return f"**met on the mean**, not beyond chance ({span}, which reaches below +{GOAL:.0%})"


def against_best_ids(results: dict[str, dict[str, Any]], best: str, runs: Path) -> list[str]:
    """The goal names LightGCN; when another id model is stronger on validation, the same
    comparison against it says how much of the gain content itself brings."""
    ids = [m for m in ID_MODELS if m in results]
    top = max(ids, key=lambda n: results[n]["valid"]["recall@20"]["mean"])
    if top == "lightgcn":
        return []
    t, base = results[best]["test"], results[top]["test"]
    gain = t["recall@20"]["mean"] / base["recall@20"]["mean"] - 1
    return [
        f"- the strongest id model on **validation** Recall@20 is **{top}** "
        f"({results[top]['valid']['recall@20']['mean']:.4f}), not lightgcn; against it "
        f"(what content adds over the best use of the ids alone):",
        f"  - test recall@20: {best} {fmt(t['recall@20'])} vs {top} {fmt(base['recall@20'])}: "
        f"{gain:+.1%}; test ndcg@20: {fmt(t['ndcg@20'])} vs {fmt(base['ndcg@20'])}",
        *paired_lines(runs, best, base=top),
    ]


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    cols = " | ".join(f"test {k}" for k in SHOWN)
    rows = [
        f"| model | kind | trials | modalities | chosen setting | valid recall@20 | {cols} | "
        "test recall@20, movies with poster | without poster | s/epoch | epochs | commit |",
        "|---|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|---|---|",
    ]
    for name, r in results.items():
        chosen, spe, epochs, commit = row_facts(r, skip=("features.modalities",))
        poster = [
            f"{fmt(r['by_poster'][g])} ({r['by_poster'][g]['users']} users)"
            for g in ("with poster", "without poster")
        ]
        rows.append(
            f"| {name} | {'ids' if name in ID_MODELS else 'multimodal'} | {r['trials']} | "
            f"{'+'.join(r['modalities']) if r['modalities'] else '-'} | "
            f"{chosen or 'defaults'} | {fmt(r['valid']['recall@20'])} | "
            + " | ".join(fmt(r["test"][k]) for k in SHOWN)
            + f" | {poster[0]} | {poster[1]} | {spe} | {epochs:.0f} | {commit} |"
        )
    return rows


def recbole_table(ref: dict[str, Any]) -> list[str]:
    rows = [
        "| RecBole 1.2.1 | seeds | valid recall@20 | "
        + " | ".join(f"test {k}" for k in SHOWN)
        + " | best epoch | epochs run | s/epoch |",
        "|---|---|---|" + "---|" * len(SHOWN) + "---|---|---|",
    ]
    for name, r in ref.items():
        rows.append(
            f"| {name} | {r['seeds']} | {fmt(r['valid']['recall@20'])} | "
            + " | ".join(fmt(r["test"][k]) for k in SHOWN)
            + f" | {r['best_epoch']} | {r['epochs_run']} | {r['seconds_per_epoch']:.2f} |"
        )
    return rows


def compact(results: dict[str, Any], ref: dict[str, Any]) -> str:
    """A short table for the README: test Recall@20 / NDCG@20 of every row."""
    rows = ["| model | modalities | test Recall@20 | test NDCG@20 |", "|---|---|---|---|"]
    for name, r in results.items():
        mods = "+".join(r["modalities"]) if r["modalities"] else "-"
        rows.append(
            f"| {name} | {mods} | {fmt(r['test']['recall@20'])} | {fmt(r['test']['ndcg@20'])} |"
        )
    for name, r in ref.items():
        rows.append(
            f"| RecBole {name} | - | {fmt(r['test']['recall@20'])} | {fmt(r['test']['ndcg@20'])} |"
        )
    return "\n".join(rows)


def by_popularity(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Each finished model's test Recall@20 per ``POPULARITY`` bucket of the held-out movie,
    scored from its saved best run and cached beside it (``by_popularity.json``, keyed by the
    run's ``results.json``, so a re-run model is scored again). A cache from before the
    buckets' contributions were recorded is scored again where the weights are still there
    (a run restored by ``bench_state.py`` has none: its cache is kept as it is)."""
    from fusionrec.config import read_saved_config
    from fusionrec.io import read_json, write_json
    from fusionrec.train.experiment import prepare

    out: dict[str, Any] = {}
    prep = None
    buckets = [list(b) for b in POPULARITY]  # as the cache's JSON holds them
    for name in results:
        run = run_of(args.runs, name)
        if not (run / "results.json").exists():
            continue
        stamp = results_stamp(run)
        cache = run / "by_popularity.json"
        if cache.exists():
            kept = read_json(cache)
            complete = all("contribution" in g for g in kept["groups"].values())
            weights = any(run.glob("seed-*/best.pt"))
            same = kept.get("buckets", buckets) == buckets  # a cache without them: these
            if kept["results_sha256"] == stamp and same and (complete or not weights):
                out[name] = kept["groups"]
                continue
        if prep is None:
            base = study_config(args, args.names[0]).model_copy(update={"search": None})
            prep = prepare(base, None, progress=False)
        groups = recall_by_group(
            run, prep, read_saved_config(run / "config.yaml"), popularity_groups(prep)
        )
        write_json(cache, {"results_sha256": stamp, "buckets": buckets, "groups": groups})
        out[name] = groups
    return out


def popularity_table(found: dict[str, Any]) -> list[str]:
    """Buckets as rows, models as columns, and the line that says where content can pay."""
    if not found:
        return []
    first = next(iter(found.values()))
    total = sum(g["items"] for g in first.values())
    names = list(found)
    lines = [
        "| training ratings of the held-out movie | share of test ratings | users | "
        + " | ".join(names)
        + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for bucket, g in first.items():
        lines.append(
            f"| {bucket} | {g['items'] / total:.1%} | {g['users']} | "
            + " | ".join(fmt(found[n][bucket]) for n in names)
            + " |"
        )
    rare = [b for b in first if b in ("0", "1-2")]
    share = sum(first[b]["items"] for b in rare) / total
    lines.append(
        f"\n- {share:.1%} of the held-out ratings are of movies with at most 2 training "
        "ratings: there an id model has (almost) nothing to go on, and content can pay"
    )
    return lines


#: buckets where an id model has little or nothing to learn from (``POPULARITY`` labels)
TAIL = ("0", "1-2", "3-5")


def gain_sources(found: dict[str, Any], best: str) -> list[str]:
    """Where the verdict's model gains or loses against LightGCN: each bucket's contribution
    to test Recall@20 (``recall_by_group``), and what the rarely rated movies would give if
    they were recalled as well as the most-rated ones, which says whether content on those
    movies alone could reach the goal."""
    if best not in found or "lightgcn" not in found:
        return []
    mine, base = found[best], found["lightgcn"]
    if any("contribution" not in g for g in [*mine.values(), *base.values()]):
        return []
    lines = [
        f"| training ratings of the held-out movie | weight | lightgcn | {best} | difference |",
        "|---|---|---|---|---|",
    ]
    for bucket, g in base.items():
        diff = mine[bucket]["contribution"]["mean"] - g["contribution"]["mean"]
        lines.append(
            f"| {bucket} | {g['weight']:.4f} | {fmt(g['contribution'])} | "
            f"{fmt(mine[bucket]['contribution'])} | {diff:+.4f} |"
        )
    total_base = sum(g["contribution"]["mean"] for g in base.values())
    total = sum(g["contribution"]["mean"] for g in mine.values())
    lines.append(f"| all | {sum(g['weight'] for g in base.values()):.4f} | {total_base:.4f} | "
                 f"{total:.4f} | {total - total_base:+.4f} |")  # fmt: skip
    need = GOAL * total_base
    warm = list(base)[-1]  # the most-rated bucket
    warm_rate = mine[warm]["mean"]
    lines += [
        "",
        f"- the goal (+{GOAL:.0%}) needs {best} to add {need:+.4f} to lightgcn's test "
        f"Recall@20 ({total_base:.4f}); it adds {total - total_base:+.4f}",
    ]
    for label, buckets in (("at most 5", TAIL), ("at most 20", [b for b in base if b != warm])):
        rare = [b for b in base if b in buckets]
        got = sum(mine[b]["contribution"]["mean"] - base[b]["contribution"]["mean"] for b in rare)
        reach = sum(base[b]["weight"] * warm_rate - base[b]["contribution"]["mean"] for b in rare)
        lines.append(
            f"- the held-out movies with {label} training ratings ({', '.join(rare)}) add "
            f"{got:+.4f}; recalled as well as the most-rated ones ({warm_rate:.4f} per user), "
            f"they would add about {reach:+.4f} (their weight times that rate, less lightgcn's "
            "contribution there): "
            + ("enough for the goal" if reach >= need else "short of the goal even then")
        )
    return lines


#: the blend probe's grid: content weights, and popularity scales (None = the same weight
#: for every movie; tau = a movie with n training ratings gets weight w / (1 + n / tau))
BLEND_WEIGHTS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0)
BLEND_TAUS = (None, 3, 10, 30, 100)


def blend_probe(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any] | None:
    """How much the content signal adds on top of the tuned LightGCN at its simplest: each
    LightGCN seed's scores plus a weighted Content-KNN score (both standardised per user),
    the weight (constant, or smaller for often rated movies) chosen on validation Recall@20
    over the seeds, then test scored once. An analysis beside the verdict, not a model in
    it. Cached in ``blend.json`` keyed by both runs' results, so it outlives the weights."""
    import itertools

    import numpy as np
    import torch

    from fusionrec.config import read_saved_config
    from fusionrec.data.split import TEST, TRAIN, VALID
    from fusionrec.evaluate import Evaluator
    from fusionrec.io import read_json, write_json
    from fusionrec.models.cold_transfer import standardise
    from fusionrec.train.experiment import prepare
    from fusionrec.train.reload import load_run_model
    from fusionrec.train.tune import with_modalities

    if "lightgcn" not in results or "content-knn" not in results:
        return None
    runs = {m: run_of(args.runs, m) for m in ("lightgcn", "content-knn")}
    stamp = results_stamp(*runs.values())
    cache = args.runs / "blend.json"
    probed = [list(BLEND_WEIGHTS), list(BLEND_TAUS)]
    if cache.exists():
        kept = read_json(cache)
        if kept["results_sha256"] == stamp and kept.get("probed", probed) == probed:
            return kept["blend"]
    # content-knn trains nothing (its seed folders are all it needs); LightGCN needs weights
    if not any(runs["lightgcn"].glob("seed-*/best.pt")) or not any(
        runs["content-knn"].glob("seed-*")
    ):
        return None  # restored without them and never probed
    base = study_config(args, "lightgcn").model_copy(update={"search": None})
    prep = prepare(base, None, progress=False)
    ds, split = prep.dataset, prep.split
    train, valid, test = (split.matrix(ds, c) for c in (TRAIN, VALID, TEST))
    rated = torch.as_tensor(np.asarray(train.sum(axis=0)).ravel(), dtype=torch.float32)

    def scores(run: Path) -> list[torch.Tensor]:
        cfg = read_saved_config(run / "config.yaml")
        out = []
        for seed in cfg.seeds:
            model = load_run_model(run, seed, with_modalities(prep, cfg))[0].eval()
            with torch.no_grad():
                s = model.score(torch.arange(ds.n_users))
            out.append(standardise(s))
        return out

    light, content = scores(runs["lightgcn"]), scores(runs["content-knn"])[0]
    on_valid, on_test = Evaluator(valid, train, ks=[20]), Evaluator(test, train + valid, ks=[20])

    def recall(evaluator: Evaluator, w: float, tau: float | None) -> list[float]:
        weight = w if tau is None else w / (1.0 + rated / tau)
        return [
            evaluator.evaluate(lambda u, m=lg + weight * content: m[u])["recall@20"] for lg in light
        ]

    grid = [(0.0, None), *itertools.product(BLEND_WEIGHTS, BLEND_TAUS)]
    valid_scores = {(w, tau): float(np.mean(recall(on_valid, w, tau))) for w, tau in grid}
    w, tau = max(grid, key=lambda g: valid_scores[g])  # the first best: no weight on a tie
    blend = {
        "chosen": {"weight": w, "tau": tau},
        "valid": valid_scores[(w, tau)],
        "valid_constant": max(v for (_, t), v in valid_scores.items() if t is None),
        "test": _mean_std(recall(on_test, w, tau)),
        "test_lightgcn": _mean_std(recall(on_test, 0.0, None)),
        "grid": len(grid),
    }
    write_json(cache, {"results_sha256": stamp, "probed": probed, "blend": blend})
    return blend


def blend_lines(blend: dict[str, Any] | None) -> list[str]:
    if not blend:
        return []
    w, tau = blend["chosen"]["weight"], blend["chosen"]["tau"]
    gain = blend["test"]["mean"] / blend["test_lightgcn"]["mean"] - 1
    how = "the same for every movie" if tau is None else f"w / (1 + n / {tau}) for n ratings"
    return [
        f"- the content signal on top of the tuned lightgcn at its simplest (an analysis, not a "
        f"model of the table): each lightgcn seed's scores plus w x content-knn's, both "
        f"standardised per user, w from {blend['grid']} settings chosen on validation "
        f"Recall@20: w = {w} ({how}; valid {blend['valid']:.4f}, the best constant weight "
        f"{blend['valid_constant']:.4f}); test Recall@20 {fmt(blend['test'])} vs lightgcn "
        f"{fmt(blend['test_lightgcn'])}: {gain:+.1%}"
    ]


def feature_sources(runs: Path, names: list[str]) -> str:
    """Each modality's encoder as the finished runs' manifests name it (encoded here, or read
    from ``--features-from`` files, which name the encoder that made them)."""
    seen: dict[str, set[str]] = {}
    for name in names:
        for folder in (runs / name / "best", runs / name):
            if (folder / "manifest.json").exists():
                found = json.loads((folder / "manifest.json").read_text()).get("features") or {}
                for mod, facts in (found.get("modalities") or {}).items():
                    seen.setdefault(mod, set()).add(facts["encoder"])
                break
    return "; ".join(f"{m}: {' | '.join(sorted(e))}" for m, e in sorted(seen.items())) or "none"


def write(args: argparse.Namespace, results: dict[str, Any], ref: dict[str, Any]) -> None:
    spec = yaml.safe_load(args.spec.read_text())
    train = {**spec["train"], **({"epochs": args.epochs} if args.epochs else {})}
    seeds = spec["seeds"][: args.seeds] if args.seeds else spec["seeds"]
    commits = {r["commit"] + ("+dirty" if r["dirty"] else "") for r in results.values()}
    setup = [
        f"- data: {spec['dataset']['name']}, split {spec['split']['path']} (canonical file); "
        f"features {spec['features']} (text: title, genres, tags; image: posters); movies "
        "without a poster keep a masked image row",
        "- item features as the runs record them: " + feature_sources(args.runs, list(results)),
        f"- training: {train}; early stopping on validation Recall@20; test scored once per "
        f"seed with the best-validation weights; seeds {seeds}",
        f"- tuning: `fusionrec tune` (Optuna TPE, validation Recall@20 only), {args.trials} "
        "trials per model (the same budget for every model), on the first seed; each model's "
        "shipped space (src/fusionrec/presets/spaces/), plus the modality set (text, image, "
        "text+image) for multimodal models; each model in its own process, "
        f"{args.threads} torch threads; mean ± sample std (ddof=1) over seeds",
        space_note(args.runs, list(results)),
        budget_note({m: r["trials"] for m, r in results.items()}, args.trials),
        "- poster columns: per user, test Recall@20 counted over the user's held-out movies "
        "that have a poster (resp. have none) only, the ranking (all movies, train and valid "
        "masked) unchanged; averaged over the users with at least one such movie (user count "
        "in parentheses); a user with both kinds counts in both",
        f"- left out: the sequential {', '.join(sequential_models())} (the split is a random "
        "permutation of each user's ratings, not their time order; `bench_sequential.py` "
        "scores them on leave-one-out)",
    ]
    setup.append(device_note(results))
    versions = versions_note(commits)
    if versions:
        setup.append(versions)
    mixed = trial_code_note({m: args.runs / m for m in results})
    if mixed:
        setup.append(mixed)
    pending = [m for m in args.names if m not in results]
    if pending:
        setup.append(f"- not (yet) in this table: {', '.join(pending)}")
    text = header("Where content matters: models on movielens-latest-small-mm (tuned)")
    text += "\n".join(setup) + "\n\n" + "\n".join(table(results)) + "\n\n"
    if ref:
        text += (
            f"RecBole on the same split, same seeds (emb 64, lr 1e-3, batch 2048, patience 20, "
            f"<= {args.recbole_epochs} epochs):\n\n" + "\n".join(recbole_table(ref)) + "\n\n"
        )
    for name in results:  # cached beside the run: the pairing outlives the weights
        per_user_test(run_of(args.runs, name))
    text += "\n".join(verdict(results, pending, args.runs))
    if "lightgcn" in results:
        text += "\n\n" + "\n".join(paired_table(args.runs, list(results)))
    found = by_popularity(args, results)
    popular = popularity_table(found)
    if popular:
        text += (
            "\n\n## Test Recall@20 by how often the held-out movie was rated in training\n\n"
            "Per user, counted over the user's held-out movies in the bucket only, the ranking "
            "unchanged; averaged over the users with at least one such movie.\n\n"
        ) + "\n".join(popular)
    chosen = best_multimodal(results, ID_MODELS, pending)
    sources = gain_sources(found, chosen[0]) if chosen else []
    if sources:
        text += (
            f"\n\n## Where {chosen[0]}'s test Recall@20 differs from lightgcn's\n\n"
            "Each bucket's contribution: a user's hits on the bucket's held-out movies over all "
            "the user's held-out movies, averaged over every test user, so the buckets add up "
            "to the test Recall@20; the weight is the contribution of a model that recalled "
            "every such movie.\n\n"
        ) + "\n".join(sources)
    blend = blend_lines(blend_probe(args, results))
    if blend:
        text += "\n" + "\n".join(blend)
    write_result(args.out, text)
    write_json_result(args.out.with_suffix(".json"), {"models": results, "recbole": ref})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--models", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--trials", type=int, default=20, help="trials per model (default 20)")
    ap.add_argument("--epochs", type=int, default=0, help="override train.epochs (smoke tests)")
    ap.add_argument("--seeds", type=int, default=0, help="use the first N seeds (smoke tests)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help=JOBS_HELP)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-sparse"))
    ap.add_argument("--recbole", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--recbole-epochs", type=int, default=300)
    ap.add_argument("--fresh", action="store_true", help="re-run models with a bench.json")
    ap.add_argument("--collect", action="store_true", help="table from finished runs only")
    ap.add_argument("--compact", action="store_true", help="also print a short README table")
    ap.add_argument("--time-epoch", action="store_true", help="time one epoch of each model")
    ap.add_argument("--out", type=Path, default=RESULTS / "sparse_quality.md")
    ap.add_argument(
        "--features-from",
        type=Path,
        default=None,
        help="read item features from DIR/text.npz and DIR/image.npz (`fusionrec encode -c "
        "benchmarks/sparse_study.yaml --export DIR`) instead of encoding them: a GPU machine "
        "without the encoder models",
    )
    ap.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=None,
        help="train.device of every run (default: the spec's, the CPU); RecBole's runs stay on "
        "the CPU",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args, args.child)
        return
    import torch

    torch.set_num_threads(args.threads)  # this process re-scores runs (paired tests) too
    names = model_names()
    if args.models:
        unknown = set(args.models.split(",")) - set(names)
        if unknown:
            ap.error(f"--models: not among {names}: {sorted(unknown)}")
        names = [n for n in names if n in args.models.split(",")]
    args.names = names
    if args.time_epoch:
        time_epochs(args, names)
        return
    results: dict[str, Any] = {}
    for results in each_model(args, names, run_child):
        write(args, results, {})
    ref = recbole(args, train=not args.collect) if args.recbole else {}
    write(args, results, ref)
    if args.compact:
        print(compact(results, ref))


if __name__ == "__main__":
    main()
