"""Shared helpers for benchmark scripts: provenance header, machine description, and the one
way a result file is written (whole, atomically, by the script named in its header)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from fusionrec.evaluate.metrics import mean_std
from fusionrec.io import write_text
from fusionrec.train.trainer import resolve_device

__all__ = [
    "RESULTS",
    "device_note",
    "device_of",
    "header",
    "machine",
    "mean_std",
    "provenance",
    "write_result",
]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _git(*args: str) -> str | None:
    """``git``'s output, "" when it fails, None when there is no ``git`` program."""
    try:
        proc = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _head_from_files() -> str:
    """HEAD's commit read from ``.git`` itself, for a machine without the ``git`` program
    (a GPU machine that runs a copy of the checkout)."""
    git = HERE.parent / ".git"
    try:
        if git.is_file():  # a worktree: ".git" names its own folder, which names the shared one
            git = (HERE.parent / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        shared = git / "commondir"
        common = (git / shared.read_text().strip()).resolve() if shared.exists() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[len("ref: ") :]
        if (common / ref).exists():
            return (common / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return "unknown (not a git checkout)"


def head_commit() -> str:
    """HEAD's commit, read from ``.git`` where there is no ``git`` program."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return _head_from_files()
    return commit or "unknown (not a git checkout)"


def provenance() -> dict[str, str | bool | None]:
    """The commit the numbers come from and whether the tree differed from it: a changed
    tracked file, or a file git does not know under ``src/`` or ``benchmarks/`` (new code, a
    probe record a report reads); result files themselves are ignored, since a script
    rewrites them. ``dirty`` is None where no ``git`` program can tell."""
    commit = head_commit()
    outside_results = (":(top,exclude)benchmarks/results",)
    changed = _git(
        "status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outside_results
    )
    if changed is None:
        return {"commit": commit, "dirty": None}
    unknown = _git(
        "ls-files", "--others", "--exclude-standard", "--", ":(top)src", ":(top)benchmarks",
        *outside_results,
    )  # fmt: skip
    return {"commit": commit, "dirty": bool(changed or unknown)}


#: the commit this process started from: a result written after HEAD moved is refused
START_COMMIT = head_commit()


def versions_note(commits: set[str]) -> str | None:
    """The line a table gets when its rows come from several commits: which ones, and what
    under ``src/`` differs between the oldest and each other one (model code that differs
    can move numbers; a change to serving or exports cannot). None for one commit."""
    if len(commits) < 2:
        return None
    line = f"- WARNING: rows come from different code versions: {sorted(commits)}"
    clean = sorted(c for c in commits if not c.endswith("+dirty"))
    dated = {c: _git("show", "-s", "--format=%ct", c) for c in clean}
    if len(clean) < 2 or not all(dated.values()):
        return line + " (not compared: a tree was dirty or git cannot read a commit here)"
    first, *rest = sorted(clean, key=lambda c: int(dated[c] or 0))
    changed: set[str] = set()
    for commit in rest:
        diff = _git("diff", "--name-only", first, commit, "--", ":(top)src/") or ""
        changed.update(diff.split())
    if not changed:
        return line + "; src/ is identical in all of them"
    return line + f"; src/ differs between them in {', '.join(sorted(changed))}"


def _spans(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2, 5``."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and int(out[-1].split("-")[-1]) == n - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def trial_code_note(searches: dict[str, Path]) -> str | None:
    """The line a table gets when a model's search (``name -> its folder``) ran under more
    than one code version: each trial records the code that ran it (``code``; trials from
    before it was recorded have none), and a search resumed after the code changed compares
    trials of two programs. None when every search ran under one."""
    from fusionrec.train.tune import trials_by_code

    mixed = []
    for name, folder in searches.items():
        path = folder / "trials.json"
        if not path.exists():
            continue
        by_code = trials_by_code(json.loads(path.read_text(encoding="utf-8")))
        if len(by_code) > 1:
            parts = (
                f"trials {_spans(numbers)}: {code or 'code not recorded'}"
                for code, numbers in by_code.items()
            )
            mixed.append(f"{name} ({'; '.join(parts)})")
    if not mixed:
        return None
    return "- WARNING: searches that ran under more than one code version: " + " | ".join(mixed)


def budget_note(trials: dict[str, int], expected: int | None) -> str:
    """Whether every tuned row had the trial budget the header states, read from the rows (a
    row read back from an older run, or a search cut short, may not have): the header's
    "same budget" is checked, not assumed. Rows with 0 trials have nothing to tune."""
    off = {m: n for m, n in trials.items() if n and n != expected}
    if not off:
        return f"- trial budget, read from the rows: every tuned model had {expected} trials"
    listed = ", ".join(f"{m} {n}" for m, n in sorted(off.items()))
    return f"- WARNING: rows tuned with another trial budget than {expected}: {listed}"


def device_of(setting: str) -> str:
    """The device a run with ``train.device: setting`` trains on: ``cpu``, or the GPU's name."""
    device = resolve_device(setting)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def device_note(results: dict[str, dict[str, Any]]) -> str:
    """Which rows trained on which device; rows recorded before the device was are CPU runs
    (no GPU was lent to the sessions that ran them)."""
    on: dict[str, list[str]] = {}
    for name, r in results.items():
        on.setdefault(r.get("device", "cpu"), []).append(name)
    if list(on) == ["cpu"]:
        return "- device: every row trained on the CPU"
    return "- device: " + "; ".join(f"{d}: {', '.join(names)}" for d, names in on.items())


def _range(spec: dict[str, Any]) -> str:
    if "choices" in spec:
        return "{" + ", ".join(map(str, spec["choices"])) + "}"
    return f"{spec['low']:g}..{spec['high']:g}"


def space_note(runs: Path, names: list[str]) -> str:
    """Where a model's search used another space than the one it ships now (a space moved
    after that study had searched it), read from the search's saved config, so the file
    never claims a space the run did not search."""
    import yaml

    from fusionrec.train.tune import shipped_space

    moved = []
    for name in names:
        saved = runs / name / "search_config.yaml"
        if not saved.exists():  # runs from before the config was saved: spaces unchanged since
            continue
        searched = (yaml.safe_load(saved.read_text(encoding="utf-8")).get("search") or {}).get(
            "space"
        ) or {}
        shipped = shipped_space(name) or {}
        diffs = [
            f"{key} {_range(spec)} (ships {_range(shipped[key]) if key in shipped else 'none'})"
            for key, spec in searched.items()
            if key != "features.modalities" and shipped.get(key) != spec
        ]
        diffs += [f"{key}: not searched (ships {_range(shipped[key])})"
                  for key in shipped if key not in searched]  # fmt: skip
        if diffs:
            moved.append(f"{name} searched {'; '.join(diffs)}")
    if not moved:
        return "- search spaces: every model searched the space it ships now"
    return "- search spaces that moved after this study searched them: " + " | ".join(moved)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = subprocess.run(
            ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        cpu = model or cpu
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    threads = torch.get_num_threads()
    return (
        f"{cpu}, {threads} torch thread{'s' if threads != 1 else ''}{gpu}; Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )


def header(title: str) -> str:
    """Title plus date, commit (and whether the tree was dirty), machine, how busy it was
    (timings from a shared machine read differently) and the exact command."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    prov = provenance()
    dirty = {True: " (working tree had uncommitted changes)", False: " (clean tree)"}.get(
        prov["dirty"], " (tree not checked: no git program on this machine)"
    )
    command = " ".join(["python", *sys.argv])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"# {title}\n\n- written whole by `{Path(sys.argv[0]).name}`; do not edit by hand\n"
        f"- date: {now}\n- commit: {prov['commit']}{dirty}\n- machine: {machine()}\n"
        f"- load average when written (1, 5, 15 min; {os.cpu_count()} CPUs): {load}\n"
        f"- command: `{command}`\n"
    )


def write_result(path: Path, text: str) -> Path:
    """Write a result file whole and atomically (a crash never leaves half a table). Into
    ``benchmarks/results`` only from a clean tree at the commit the run started from, since
    the file names that commit as the code its numbers come from."""
    if Path(path).resolve().parent == RESULTS.resolve():
        prov = provenance()
        if prov["dirty"]:
            raise SystemExit(
                f"{path}: not written: the working tree has uncommitted changes, and a results "
                "file records the commit its numbers come from; commit first, or write "
                "elsewhere with --out"
            )
        if prov["commit"] != START_COMMIT:
            raise SystemExit(
                f"{path}: not written: HEAD moved from {START_COMMIT} to {prov['commit']} while "
                "this ran, so the file could not name the code that produced it; run it again "
                "(or from a worktree that stays put)"
            )
    return write_text(path, text if text.endswith("\n") else text + "\n")


def write_json_result(path: Path, data: dict[str, Any], indent: int = 1) -> Path:
    """The raw numbers beside a results table, with the provenance its header records (a
    JSON file must say where its numbers come from as much as the table does)."""
    import json

    prov = {**provenance(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    prov["command"] = " ".join(["python", *sys.argv])
    return write_result(path, json.dumps({**data, **prov}, indent=indent, default=_plain))


def _plain(value: Any) -> float | str:
    """numpy numbers as floats, anything else (paths, dates) as its text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def arms_parser(
    doc: str, arms: list[str], models: str, epochs: int, spec: Path, runs: str, out: str
) -> argparse.ArgumentParser:
    """The command line of a benchmark that trains each model once per arm (a setting
    switched on and off), each run in its own process: ``--child``/``--arm`` are that
    process's, ``--collect`` writes the table from finished runs."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--models", default=models)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path(runs))
    parser.add_argument("--features-from", type=Path, default=None)
    parser.add_argument("--spec", type=Path, default=spec, help="the study whose data and split")
    parser.add_argument("--out", type=Path, default=RESULTS / out)
    parser.add_argument("--collect", action="store_true", help="write the table from the runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--arm", choices=arms, help=argparse.SUPPRESS)
    return parser


def run_arm(
    script: str,
    args: argparse.Namespace,
    model: str,
    arm: str,
    summary: str,
    extra: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Train ``model`` with one arm in a process of its own (its threads start with their own
    flags and nothing of another run is cached), or with ``--collect`` read the finished
    run's ``summary`` file back."""
    path = args.runs / f"{model}-{arm}" / summary
    if args.collect:
        if not path.exists():
            raise SystemExit(f"--collect: {path} does not exist; run without --collect")
        return json.loads(path.read_text())
    cmd = [sys.executable, script, "--child", model, "--arm", arm, "--epochs", str(args.epochs)]
    cmd += ["--threads", str(args.threads), "--runs", str(args.runs), "--spec", str(args.spec)]
    if args.features_from:
        cmd += ["--features-from", str(args.features_from)]
    print(f"training {model} ({arm}) for {args.epochs} epochs", flush=True)
    done = subprocess.run([*cmd, *extra], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{model} ({arm}) failed:\n{done.stderr[-3000:]}")
    return json.loads(path.read_text())


def run_arms(
    script: str,
    args: argparse.Namespace,
    arms: list[str],
    summary: str,
    child: Callable[[argparse.Namespace], None],
    report: Callable[[argparse.Namespace, dict[str, dict[str, dict[str, Any]]]], str],
    extra: list[str] | tuple[str, ...] = (),
) -> None:
    """An arms benchmark's main: in a ``--child`` process train its one run, otherwise run
    (or ``--collect``) every model's arms one after the other and write the table."""
    if args.child:
        child(args)
        return
    torch.set_num_threads(args.threads)  # the header's machine line names the runs' threads
    runs = {
        model: {arm: run_arm(script, args, model, arm, summary, extra) for arm in arms}
        for model in args.models.split(",")
    }
    write_result(args.out, report(args, runs))
    print(f"wrote {args.out}")
