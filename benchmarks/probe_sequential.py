"""Validation-only probes of the sequential models' settings, and the table of every probe kept.

How a default or a study setting of SASRec and MM-SASRec is chosen: one seed of one setting
per call, trained with ``bench_sequential.py``'s settings (movielens-100k-mm, or with
``--dataset`` the sparse movielens-latest-small-mm; leave-one-out, text + posters, early
stopping on validation NDCG@10), scored on validation only; test is
never read. Each probe is kept as one JSON record under ``--records`` (committed, so the
choice travels with the code), and ``report`` writes every record into one table, each
setting's seeds side by side: compare settings seed by seed, never a mean over different
seeds. Its last section chooses each model's defaults across both datasets from the settings
probed on both with seeds 1-3 (``defaults_choice``); a probe record also names the training
settings it ran with (learning rate, batch, patience, epochs), is matched on those that differ
from the study's today, and replaces an older record of the same setting and seed that named
none (GRU4Rec's first sparse probes ran at a patience the study has since raised).
``--params`` change ``bench_sequential.PROBE_BASE`` (the study's settings before any choice
made on validation), so a record keeps its meaning when the study adopts a setting.

    python benchmarks/probe_sequential.py run mmsasrec --tag mm-gate-3 --seed 2 \
        --params '{"gate_init": -3.0}'
    python benchmarks/probe_sequential.py run sasrec --tag sasrec-stride25 --seed 1 \
        --params '{"window_stride": 25}' --dataset movielens-latest-small-mm \
        [--features-from DIR]
    python benchmarks/probe_sequential.py run sasrec --tag sasrec-batch2048 --seed 1 \
        --train '{"batch_size": 2048}'
    python benchmarks/probe_sequential.py run sasrec --tag bert-stride25 --seed 1 \
        --params '{"block": "bert", "window_stride": 25}' --unmasked
    python benchmarks/probe_sequential.py report [--write-presets]

``--unmasked`` probes a setting for the side-by-side table with RecBole instead: scored as
that table scores (nothing masked), in batches of as many targets as RecBole's
(``bench_sequential.as_side_by_side``). Those probes have a section of their own and never
compete for the defaults, which are chosen for fusionrec's own (masked) evaluation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench_sequential import DATASETS, as_side_by_side
from common import RESULTS, header, machine, provenance, write_result
from fusionrec.config import ExperimentConfig, TrainConfig
from fusionrec.io import read_json, write_json

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "state" / "sequential_probes"
METRIC = "ndcg@10"
#: the training settings a probe record names
TRAIN_KEYS = ("lr", "batch_size", "patience", "epochs")
#: a probe's epoch budget unless ``--epochs`` says otherwise
EPOCHS = 200
#: the seeds a setting needs on both datasets to compete for a model's defaults
DEFAULT_SEEDS = (1, 2, 3)


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
    config = make_config(study, args.model, {**PROBE_BASE[args.model], **params}, **extra)
    train = json.loads(getattr(args, "train", None) or "{}")
    if not train:
        return config
    changed = TrainConfig.model_validate({**config.train.model_dump(), **train})
    return config.model_copy(update={"train": changed})


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from fusionrec.train.experiment import prepare, run_seed

    params = json.loads(args.params)
    config = probe_config(args, params)
    torch.set_num_threads(1)
    prep = prepare(config, None, progress=False)
    if args.unmasked:
        config = as_side_by_side(config, prep)
    cpu, wall = time.process_time(), time.time()
    rec = run_seed(config, prep, args.seed, None, progress=False, evaluate_test=False)
    record = {
        "tag": args.tag,
        "model": args.model,
        "params": params,
        "train_changes": json.loads(args.train),
        "resolved": config.model.params,
        "train": {k: getattr(config.train, k) for k in TRAIN_KEYS},
        "modalities": args.modalities,
        "dataset": args.dataset,
        "unmasked": args.unmasked,
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
    name = record_name(args.tag, args.dataset, args.unmasked)
    write_json(args.records / f"{name}-s{args.seed}.json", record)
    print(json.dumps({k: record[k] for k in ("tag", "seed", "epochs", "best_epoch")}),
          f"valid {METRIC} {record['valid'][METRIC]:.4f}")  # fmt: skip
    return record


def record_name(tag: str, dataset: str, unmasked: bool = False) -> str:
    """The dense set's probes keep their bare tags (the first probes had no other set)."""
    name = tag if dataset == DATASETS[0] else f"{dataset}-{tag}"
    return f"unmasked-{name}" if unmasked else name


def short_commit(commit: str | None) -> str:
    """A commit's first 9 digits; anything else (a probe from before commits were recorded)
    as "not recorded"."""
    if commit and all(c in "0123456789abcdef" for c in commit):
        return commit[:9]
    return "not recorded"


def train_changes(record: dict[str, Any]) -> dict[str, Any]:
    """The training settings a probe changed from the study's, as ``train.<key>``."""
    return {f"train.{k}": v for k, v in record.get("train_changes", {}).items()}


def setting(record: dict[str, Any]) -> str:
    changed = {**record["params"], **train_changes(record)}
    params = ", ".join(f"{k}={v}" for k, v in sorted(changed.items())) or "defaults"
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
    own = [r for r in records if not r.get("unmasked")]
    for dataset in DATASETS:
        kept = [r for r in own if r.get("dataset", DATASETS[0]) == dataset]
        if kept:
            lines += ["", f"## {dataset}", "", *probe_table(kept, dataset)]
    side = [r for r in records if r.get("unmasked")]
    if side:
        lines += [
            "",
            f"## {DATASETS[0]}, nothing masked (settings for the side-by-side with RecBole)",
            "",
            "- scored as `bench_sequential.py`'s table with RecBole scores (nothing masked), "
            "in batches of as many targets as RecBole's; not candidates for the defaults below",
            "",
            *probe_table(side, DATASETS[0]),
        ]
    return "\n".join(lines + ["", *defaults_section(own)])


def training(record: dict[str, Any], study: dict[str, Any]) -> str:
    """The training settings a probe recorded that differ from the study's today (``study``),
    "the study's" when none does; older records named none."""
    if "train" not in record:
        return "not recorded"
    changed = {k: v for k, v in record["train"].items() if study.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "the study's"


def probe_table(records: list[dict[str, Any]], dataset: str) -> list[str]:
    """One row per tag, its seeds side by side, and how its training differed from the
    study's today (a probe from before the study changed a setting, such as GRU4Rec's
    patience on the sparse set, is then told apart)."""
    seeds = sorted({r["seed"] for r in records})
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_tag.setdefault(r["tag"], []).append(r)
    studies = {m: study_train(m, dataset) for m in {r["model"] for r in records}}
    lines = [
        "| tag | model | setting | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean | best epochs | s/epoch | training vs the study's | commit |",
        "|---|---|---|" + "---|" * len(seeds) + "---|---|---|---|---|",
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
            + "; ".join(sorted({training(r, studies[r["model"]]) for r in rows})) + " | "
            + ", ".join(commits) + " |"
        )  # fmt: skip
    return lines


def current_params(model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the model's schema defaults, what a config that sets no params gets: the schema under
    its preset, layered by ``load_config`` as for any config)."""
    from fusionrec.config import load_config
    from fusionrec.models import MODELS

    schema = MODELS[model].ParamsSchema().model_dump()
    preset = load_config(base={"model": {"name": model}}).model.params
    return schema, {**schema, **preset}


def study_train(model: str, dataset: str) -> dict[str, Any]:
    """The training settings a probe of ``model`` on ``dataset`` gets today (``TRAIN_KEYS``)."""
    args = argparse.Namespace(model=model, epochs=EPOCHS, device="cpu", features_from=None,
                              modalities=None, dataset=dataset)  # fmt: skip
    train = probe_config(args, {}).train
    return {k: getattr(train, k) for k in TRAIN_KEYS}


def setting_key(
    record: dict[str, Any],
    schema: dict[str, Any],
    current: dict[str, Any],
    study: dict[str, Any],
) -> str | None:
    """The probed setting as the params that differ from the model's current defaults
    (``current_params``; sorted JSON, ``"{}"`` is the current defaults), so the same setting
    matches across datasets whatever its tag, and still does once a preset changes the
    defaults; None for a probe of another modality set, which is not a candidate default.
    A record that names its training settings adds those that differ from the study's today
    (``study``: ``study_train``), so a probe trained with, say, a patience the study has
    since changed is not counted as the same setting; an older record adds what it changed."""
    if record.get("modalities"):
        return None
    # what was trained: older records lack "resolved" and ran before any sequential preset
    trained = {**schema, **(record.get("resolved") or record["params"])}
    changed = {k: v for k, v in trained.items() if current.get(k) != v}
    if "train" in record:
        train = {f"train.{k}": v for k, v in record["train"].items() if study.get(k) != v}
    else:
        train = train_changes(record)
    return json.dumps({**changed, **train}, sort_keys=True)


def defaults_choice(
    values: dict[str, dict[str, list[float]]],
) -> tuple[dict[str, float], dict[str, tuple[float, float]], str]:
    """Each setting's relative score (per dataset its mean over ``DEFAULT_SEEDS`` divided by
    the best setting's, averaged over the datasets), each one's lead over the defaults
    (``"{}"``) paired by seed (mean, standard error), and the choice: the best-scoring setting
    whose lead is larger than its standard error, else the defaults. Settings a seed apart
    differ by about 0.02 here, so a smaller lead is noise, and changing a default for it would
    only churn."""
    best = {d: max(statistics.fmean(v[d]) for v in values.values()) for d in DATASETS}
    relative = {
        key: statistics.fmean(statistics.fmean(v[d]) / best[d] for d in DATASETS)
        for key, v in values.items()
    }
    leads = {}
    for key, v in values.items():
        by_seed = [
            statistics.fmean((v[d][i] - values["{}"][d][i]) / best[d] for d in DATASETS)
            for i in range(len(DEFAULT_SEEDS))
        ]
        se = statistics.stdev(by_seed) / len(by_seed) ** 0.5
        leads[key] = (statistics.fmean(by_seed), se)
    beating = [k for k in values if k != "{}" and leads[k][0] > leads[k][1]]
    return relative, leads, max(beating, key=relative.__getitem__, default="{}")


def complete_settings(
    records: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, dict[str, list[float]]]], list[str], list[str]]:
    """Per model, every setting probed on both datasets with each of ``DEFAULT_SEEDS`` (its
    values per dataset in seed order), for the models whose current defaults and at least one
    other setting are complete; the models still missing probes; and the records set aside
    because a later probe of the same setting and seed names its training settings and they
    do not (they ran under the study's settings of their day, which may have changed since)."""
    defaults = {m: current_params(m) for m in {r["model"] for r in records}}
    studies = {
        (m, d): study_train(m, d)
        for m, d in {(r["model"], r.get("dataset", DATASETS[0])) for r in records}
    }
    cells: dict[tuple[str, str], dict[str, dict[int, dict[str, Any]]]] = {}
    superseded = []
    for r in records:
        dataset = r.get("dataset", DATASETS[0])
        key = setting_key(r, *defaults[r["model"]], studies[r["model"], dataset])
        if key is None:
            continue
        cell = cells.setdefault((r["model"], key), {}).setdefault(dataset, {})
        kept = cell.get(r["seed"])
        if kept is not None and "train" in kept and "train" not in r:
            superseded.append(f"{record_name(r['tag'], dataset)} seed {r['seed']}")
            continue
        if kept is not None and "train" in r and "train" not in kept:
            superseded.append(f"{record_name(kept['tag'], dataset)} seed {kept['seed']}")
        cell[r["seed"]] = r
    complete, missing = {}, []
    for model in sorted({m for m, _ in cells}):
        settings = {
            key: {d: [v[d][s]["valid"][METRIC] for s in DEFAULT_SEEDS] for d in DATASETS}
            for (m, key), v in cells.items()
            if m == model and all(set(DEFAULT_SEEDS) <= set(v.get(d, {})) for d in DATASETS)
        }
        if "{}" in settings and len(settings) > 1:
            complete[model] = settings
        else:
            missing.append(model)
    return complete, missing, superseded


def defaults_section(records: list[dict[str, Any]]) -> list[str]:
    """Each model's defaults chosen across both datasets from the settings probed on both with
    every seed of ``DEFAULT_SEEDS`` (the current defaults among them)."""
    lines = [
        "## Defaults across both datasets",
        "",
        f"- candidates: every setting probed on both datasets with seeds "
        f"{', '.join(map(str, DEFAULT_SEEDS))}; relative = per dataset the setting's mean "
        f"validation {METRIC} over the seeds divided by the best setting's, averaged over the "
        "datasets; lead = its advantage over the current defaults in that unit, paired by "
        "seed (± standard error)",
        "- chosen: the best relative score among the settings whose lead is larger than its "
        "standard error; otherwise the current defaults stay (`report --write-presets` "
        "writes a chosen setting into the model's preset)",
        "",
        "| model | setting | "
        + " | ".join(f"{d} mean" for d in DATASETS)
        + " | relative | lead over defaults | chosen |",
        "|---|---|" + "---|" * len(DATASETS) + "---|---|---|",
    ]
    complete, missing, superseded = complete_settings(records)
    for model, settings in complete.items():
        relative, leads, chosen = defaults_choice(settings)
        for key, v in sorted(settings.items(), key=lambda kv: -relative[kv[0]]):
            shown = ", ".join(f"{k}={x}" for k, x in json.loads(key).items()) or "defaults"
            lead = "" if key == "{}" else f"{leads[key][0]:+.4f} ± {leads[key][1]:.4f}"
            lines.append(
                f"| {model} | {shown} | "
                + " | ".join(f"{statistics.fmean(v[d]):.4f}" for d in DATASETS)
                + f" | {relative[key]:.4f} | {lead} | {'**yes**' if key == chosen else ''} |"
            )
    if missing:
        lines += ["", "- not yet chosen (the defaults and another setting need every seed on "
                  f"both datasets): {', '.join(missing)}"]  # fmt: skip
    if superseded:
        lines += ["", "- set aside (a later probe of the same setting and seed records its "
                  "training settings, these do not): " + ", ".join(sorted(superseded))]  # fmt: skip
    return lines


def write_presets(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """Each chosen setting other than the current defaults, layered into the model's preset
    as config keys (``model.params.<k>``, ``train.<k>``)."""
    from bench_defaults import write_preset

    commit = str(provenance()["commit"])
    written = []
    for model, settings in complete_settings(records)[0].items():
        chosen = defaults_choice(settings)[2]
        if chosen != "{}":
            setting = {
                k if k.startswith("train.") else f"model.params.{k}": v
                for k, v in json.loads(chosen).items()
            }
            written.append(write_preset(model, setting, commit, by=Path(__file__), record=out))
    return written


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
    one.add_argument(
        "--train", default="{}", help='training settings changed, as JSON: {"batch_size": 2048}'
    )
    one.add_argument("--epochs", type=int, default=EPOCHS)
    one.add_argument("--device", default="cpu")
    one.add_argument("--dataset", choices=DATASETS, default=DATASETS[0])
    one.add_argument(
        "--unmasked",
        action="store_true",
        help="probe for the side-by-side table with RecBole: nothing masked, RecBole's batch",
    )
    one.add_argument(
        "--features-from",
        type=Path,
        default=None,
        help="read text.npz and image.npz that `fusionrec encode --export DIR` wrote",
    )
    table = sub.add_parser("report", help="write every kept probe into one table")
    table.add_argument("--out", type=Path, default=RESULTS / "sequential_probes.md")
    table.add_argument(
        "--write-presets", action="store_true", help="write each chosen setting into its preset"
    )
    args = ap.parse_args()
    if args.command == "run" and args.unmasked and args.dataset != DATASETS[0]:
        ap.error(f"--unmasked probes for the side-by-side with RecBole, on {DATASETS[0]} alone")
    if args.command == "run":
        run(args)
    else:
        write_result(args.out, report(args))
        print(f"wrote {args.out}")
        if args.write_presets:
            records = [read_json(p) for p in sorted(args.records.glob("*.json"))]
            own = [r for r in records if not r.get("unmasked")]
            for path in write_presets(own, args.out):
                print(f"wrote {path}")


if __name__ == "__main__":
    main()
