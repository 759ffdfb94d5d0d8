"""Default parameters chosen on validation across both movielens datasets.

Issue 14: a model's defaults are the setting that does best on *validation* over the dense
movielens-100k-mm and the sparse movielens-latest-small-mm, not one dataset's winner and
never a test number. For every model whose search finished in both studies
(``bench_movielens.py`` and ``bench_sparse.py`` runs directories), the candidates are

- the setting chosen by the dense study's search,
- the setting chosen by the sparse study's search,
- the current defaults (what a config that sets nothing gets: the model preset and schema,
  and the trainer's learning rate unless the preset sets one),
- the schema defaults (the model's own parameter defaults, which follow the papers or MMRec,
  and the trainer's learning rate, with no preset), when a preset makes them differ from the
  current ones: so the file still shows what a chosen preset replaced,

each a learning rate plus model parameters (a searched modality set is left out: every
candidate sees text and posters, the studies' base features). Every candidate is trained on
both datasets with the studies' settings and the first seed, and scored on validation only
(Recall@20). Its score is the mean over the two datasets of its validation Recall@20 divided
by the best candidate's on that dataset, so the dense and the sparse set weigh the same
although their Recall@20 differ twice over; the highest mean wins, the current defaults on a
tie. Runs are cached per (model, candidate, dataset) in ``--runs``; one cut short continues
from its last epoch's checkpoint when the script runs again.

``--write-presets`` then writes each chosen learning rate and model parameters into
``src/fusionrec/presets/models/<model>.yaml`` (other keys of the preset are kept), so a
config that sets neither gets them. Results: ``benchmarks/results/defaults.md``.

    python benchmarks/bench_defaults.py --dense-runs runs/bench-movielens \\
        [--dense-table benchmarks/results/movielens_models.md] \\
        --sparse-runs runs/bench-sparse [--models mf-bpr,lightgcn] [--threads 1] \\
        [--runs runs/bench-defaults] [--write-presets]
    # smoke test: --epochs 2 --runs /tmp/x --out /tmp/x.md

Cost: three or four candidates x two datasets per model, each one training run of up to 300 epochs
with early stopping: about six trials of the studies per model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

import bench_movielens
import bench_sparse
from common import RESULTS, header, provenance, write_result
from fusionrec.config import PRESETS as ALL_PRESETS

PRESETS = ALL_PRESETS / "models"
#: the two studies' specs, each owned by its benchmark script
STUDIES = {"dense": bench_movielens.SPEC, "sparse": bench_sparse.SPEC}
METRIC = "recall@20"
#: (study, with features) -> its prepared data: every candidate of a study shares it
PREPARED: dict[tuple[str, bool], Any] = {}


def chosen_setting(runs: Path, model: str) -> dict[str, Any] | None:
    """The learning rate and model parameters a finished search chose, or None."""
    path = runs / model / "tune.json"
    if not path.exists():
        return None
    best = json.loads(path.read_text())["best_params"]
    return {k: v for k, v in best.items() if k == "train.lr" or k.startswith("model.params.")}


def base_config(study: str, model: str, threads: int, epochs: int = 0) -> Any:
    """The study's experiment config for ``model`` (its data, split, features and training
    settings, no search) over the model's preset, as a user's config is layered."""
    from fusionrec.config import deep_merge, validate_config

    path = PRESETS / f"{model}.yaml"
    preset = yaml.safe_load(path.read_text()) if path.exists() else {}
    spec = yaml.safe_load(STUDIES[study].read_text())
    spec = {k: v for k, v in spec.items() if k not in ("models", "search", "description")}
    # the learning rate is the candidate's, else the preset's, else the trainer's default
    spec["train"] = {k: v for k, v in spec["train"].items() if k != "lr"}
    update = {"name": f"{model}-{study}", "model": {"name": model}, "train": {"threads": threads}}
    if epochs:
        update["train"]["epochs"] = epochs
    layered = deep_merge(deep_merge(preset or {}, spec), update)
    return validate_config(layered, source=f"{STUDIES[study].name} ({model})")


def with_setting(config: Any, setting: dict[str, Any]) -> Any:
    from fusionrec.config import validate_config
    from fusionrec.train.tune import apply_settings

    return validate_config(apply_settings(config.model_dump(mode="json"), setting), "candidate")


def run_key(config: Any) -> str:
    """What a candidate run trains, as text: the config with the model's parameters resolved
    against its schema, so the paper's defaults spelled out (the "schema defaults" candidate,
    once a preset has replaced them) and left implicit (the "current defaults" before that
    preset) are one run. ``config`` may also be an older cache key (a dumped config)."""
    from fusionrec.config import dump_config, validate_config
    from fusionrec.models.base import validate_params

    if isinstance(config, str):
        config = validate_config(yaml.safe_load(config), source="a cached candidate")
    params = validate_params(config.model.name, config.model.params).model_dump(mode="json")
    return dump_config(config.model_copy(update={"model": config.model.model_copy(
        update={"params": params})}))  # fmt: skip


def validate_candidate(
    model: str, study: str, setting: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Validation metrics of ``setting`` on ``study``'s dataset (first seed), cached."""
    import torch

    from fusionrec.io import read_json, write_json
    from fusionrec.models import MODELS
    from fusionrec.train.experiment import prepare, run_seed

    config = with_setting(base_config(study, model, args.threads, args.epochs), setting)
    if not MODELS[model].requires_features:
        config = config.model_copy(update={"features": None})
    key = run_key(config)  # the whole run: a changed preset or study is a new run
    cache = args.runs / model / study / "candidates.json"
    done = {run_key(k): v for k, v in read_json(cache).items()} if cache.exists() else {}
    if key in done:
        return done[key]
    torch.set_num_threads(args.threads)
    prep_key = (study, config.features is not None)
    if prep_key not in PREPARED:  # the data and features, read once per study
        PREPARED[prep_key] = prepare(config, None, progress=False)
    # one folder per run key: a run cut short (a session's end) continues from its last
    # checkpoint, and a folder never holds another config's checkpoint
    run_dir = cache.parent / "runs" / hashlib.sha256(key.encode()).hexdigest()[:16]
    record = run_seed(
        config,
        PREPARED[prep_key],
        config.seeds[0],
        run_dir,
        progress=False,
        resume=True,
        evaluate_test=False,
    )
    done[key] = {"valid": record["valid"], "epochs": record["epochs"], **provenance()}
    write_json(cache, done)
    for weights in run_dir.rglob("*.pt"):  # the cache holds what the choice reads
        weights.unlink()
    print(f"{model} {study} {setting}: valid {METRIC} {record['valid'][METRIC]:.4f}", flush=True)
    return done[key]


def full_setting(model: str, lr: float, params: dict[str, Any]) -> dict[str, Any]:
    """``lr`` and every parameter of ``model`` (``params`` over its schema) as one setting."""
    from fusionrec.models.base import validate_params

    resolved = validate_params(model, params).model_dump(mode="json")
    return {"train.lr": lr, **{f"model.params.{k}": v for k, v in resolved.items()}}


def schema_defaults(model: str) -> dict[str, Any]:
    """The learning rate and parameters a model gets with no preset."""
    from fusionrec.config import TrainConfig

    return full_setting(model, TrainConfig().lr, {})


def current_defaults(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """The learning rate and parameters a config that sets none gets today (preset included)."""
    config = base_config("dense", model, args.threads)
    return full_setting(model, config.train.lr, config.model.params)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


def table_setting(table: Path, model: str) -> dict[str, Any] | None:
    """The learning rate and model parameters a study's results table records as chosen for
    ``model`` (``lr=0.00548, reg_weight=0.000203, n_layers=4``: 3 significant digits), for a
    study whose runs folder is gone; None if the table has no searched row for it."""
    column = None
    for line in table.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:1] == ["model"] and "chosen setting" in cells:
            column = cells.index("chosen setting")
        elif column is not None and cells[0] == model and len(cells) > column:
            if cells[column] in ("", "defaults", "-"):
                return None
            pairs = (pair.split("=", 1) for pair in cells[column].split(", "))
            return {config_key(model, key): _value(value) for key, value in pairs}
    return None


def config_key(model: str, key: str) -> str:
    """The config path of a table's short key: a wrapped model's parameter that is its base
    model's (cold-transfer's ``reg_weight``) lives under ``model.params.base_params``."""
    from fusionrec.models import MODELS

    if key == "lr":
        return "train.lr"
    schema = MODELS[model].ParamsSchema
    if key not in schema.model_fields and "base_params" in schema.model_fields:
        return f"model.params.base_params.{key}"
    return f"model.params.{key}"


def dense_setting(model: str, args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """The dense study's choice from its runs, else from ``--dense-table``; and its label."""
    found = chosen_setting(args.dense_runs, model)
    if found is None and args.dense_table is not None:
        found = table_setting(args.dense_table, model)
        if found is not None:
            args.from_table.append(model)
            return found, "dense best (table)"
    return found, "dense best"


def choose(model: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """Every candidate's validation on both datasets, and the one chosen."""
    (dense, dense_label), sparse = (
        dense_setting(model, args),
        chosen_setting(args.sparse_runs, model),
    )
    if dense is None or sparse is None:
        return None
    settings = {dense_label: dense, "sparse best": sparse}
    schema = schema_defaults(model)
    if schema != current_defaults(model, args):
        settings["schema defaults"] = schema
    settings["current defaults"] = {}
    scores = {
        name: {study: validate_candidate(model, study, s, args) for study in STUDIES}
        for name, s in settings.items()
    }
    best = {study: max(scores[c][study]["valid"][METRIC] for c in settings) for study in STUDIES}
    relative = {
        c: sum(scores[c][s]["valid"][METRIC] / best[s] for s in STUDIES) / len(STUDIES)
        for c in settings
    }
    top = max(relative.values())
    # ties: the current defaults, then the schema's, then the searches' settings
    winner = next(c for c in reversed(list(settings)) if relative[c] == top)
    return {"settings": settings, "scores": scores, "relative": relative, "chosen": winner}


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the repository when inside it (a preset names files, not hosts)."""
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def write_preset(
    model: str,
    setting: dict[str, Any],
    commit: str,
    by: Path = Path(__file__),
    record: Path = RESULTS / "defaults.md",
) -> Path:
    """The chosen settings (dotted config keys) layered into the model's preset, with a header
    naming the script that chose them (``by``) and the results file that records the choice."""
    from fusionrec.io import write_text
    from fusionrec.train.tune import apply_settings

    path = PRESETS / f"{model}.yaml"
    preset = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if any(k.startswith("model.params.base_params.") for k in setting):
        # a wrapped model's parameters hold for the base they were chosen with: name it, so a
        # config that picks another base does not inherit them (fusionrec.config._for_base)
        from fusionrec.models import MODELS

        base = MODELS[model].ParamsSchema().base
        setting = {"model.params.base": base, **setting}
    preset = apply_settings(preset, setting)
    root = Path(__file__).resolve().parents[1]
    text = (
        f"# {model} defaults: the settings chosen on validation across\n"
        f"# movielens-100k-mm and movielens-latest-small-mm by {_shown(by, root)}\n"
        f"# ({_shown(record, root)}, commit {commit[:12]}); a config overrides them.\n"
    )
    write_text(path, text + yaml.safe_dump(preset, sort_keys=False))
    return path


def fmt_setting(setting: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k.rsplit('.', 1)[-1]}={short(v)}" for k, v in setting.items()) or "defaults"


def write(args: argparse.Namespace, results: dict[str, Any]) -> None:
    lines = [
        header("Default parameters chosen on validation across both movielens datasets"),
        "- candidates per model: the setting the dense study's search chose, the sparse "
        "study's, the current defaults (the model preset and schema, the trainer's "
        "learning rate unless the preset sets one) and, where a preset makes them differ, the "
        "schema defaults (no preset: the papers' or MMRec's values); each trained on both "
        "datasets with the studies' settings (text + posters, first seed) and scored on "
        "validation only",
        f"- score: mean over the two datasets of valid {METRIC} / the best candidate's on that "
        "dataset; the highest wins, the current defaults on a tie; test is never read",
        f"- runs: dense `{args.dense_runs}`, sparse `{args.sparse_runs}`, candidates `{args.runs}`",
        *(
            [
                f"- dense best (table): the dense runs of {', '.join(args.from_table)} are gone; "
                f"their candidate is the setting `{args.dense_table}` records as chosen (3 "
                "significant digits)"
            ]
            if args.from_table
            else []
        ),
        "",
        f"| model | candidate | setting | valid {METRIC} dense | valid {METRIC} sparse | "
        "relative mean | chosen |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, r in results.items():
        for c in r["settings"]:
            s = r["scores"][c]
            lines.append(
                f"| {model} | {c} | {fmt_setting(r['settings'][c])} | "
                f"{s['dense']['valid'][METRIC]:.4f} | {s['sparse']['valid'][METRIC]:.4f} | "
                f"{r['relative'][c]:.4f} | {'**yes**' if c == r['chosen'] else ''} |"
            )
    missing = [m for m in args.models if m not in results]
    if missing:
        lines += ["", f"Not yet chosen (a search missing in a study): {', '.join(missing)}."]
    write_result(args.out, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dense-runs", type=Path, default=Path("runs/bench-movielens"))
    ap.add_argument(
        "--dense-table",
        type=Path,
        default=None,
        help="where a model has no dense run, take the dense study's choice from this results "
        "table (benchmarks/results/movielens_models.md)",
    )
    ap.add_argument("--sparse-runs", type=Path, default=Path("runs/bench-sparse"))
    ap.add_argument("--models", default=None, help="comma-separated (default: every model "
                    "with a shipped search space)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-defaults"))
    ap.add_argument("--epochs", type=int, default=0, help="override train.epochs (smoke tests)")
    ap.add_argument("--write-presets", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "defaults.md")
    args = ap.parse_args()
    args.from_table = []
    from fusionrec.models import MODELS
    from fusionrec.train.tune import shipped_space

    tunable = [m for m in sorted(MODELS) if shipped_space(m) is not None]
    args.models = args.models.split(",") if args.models else tunable
    unknown = sorted(set(args.models) - set(tunable))
    if unknown:
        ap.error(f"--models: no search space for {unknown}")
    results = {}
    for model in args.models:
        found = choose(model, args)
        if found is not None:
            results[model] = found
    if not results:
        sys.exit("no model has a finished search in both runs directories")
    write(args, results)
    if args.write_presets:
        commit = str(provenance()["commit"])
        for model, r in results.items():
            setting = r["settings"][r["chosen"]]
            if not setting and not (PRESETS / f"{model}.yaml").exists():
                print(f"{model}: {r['chosen']}: no preset, its schema defaults stay")
                continue
            print(f"{model}: {r['chosen']} -> {write_preset(model, setting, commit)}")


if __name__ == "__main__":
    main()
