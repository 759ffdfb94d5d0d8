"""Every command README.md and docs/*.md show must work as written.

Each line of a ```bash block is run, in document order, from a scratch copy of the project
root (``configs/``, ``benchmarks/`` and ``../shared`` linked in, so relative paths mean what
they mean in a checkout, and ``runs/`` lands in the scratch folder). Two concessions keep
this under a minute: the feature cache (``$FUSIONREC_CACHE``) is pre-filled for the
documented datasets' default encoders, so an encode is a cache read, and ``train`` / ``tune``
get one epoch of one batch (and two trials) appended. The ``slow`` test runs them exactly as
written, cache included. ``make`` targets and commands quoted inline (``fusionrec demo
--spec ...``) are checked to parse: the target exists, every option is in the command's
``--help``, every file it names exists and config overrides are valid keys.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from fusionrec.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Appended to the long commands in the quick run (the slow test runs them as written):
#: one epoch of one batch.
ONE_STEP = ["train.epochs=1", "train.batch_size=1000000"]
QUICK = {"train": ONE_STEP, "tune": ["search.n_trials=2", *ONE_STEP]}
#: Options whose value is a file that must exist.
FILE_OPTIONS = {"config", "spec"}


def _doc_commands(inline: bool) -> list[tuple[str, list[str]]]:
    """(``file:line``, argv) of each command in ```bash blocks, or quoted inline."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        if inline:
            spans = [
                (m.start(), m.group(1))
                for m in re.finditer(r"(?<!`)`((?:fusionrec|make) [^`]+)`", text)
            ]
        else:
            spans = []
            for block in re.finditer(r"```bash\n(.*?)```", text, re.S):
                offset, pending = block.start(1), None
                for line in block.group(1).splitlines(keepends=True):
                    if pending is not None:  # a continued line joins the command it continues
                        pending = (pending[0], pending[1].rstrip()[:-1] + " " + line.strip())
                    else:
                        pending = (offset, line)
                    offset += len(line)
                    if not pending[1].rstrip().endswith("\\"):
                        spans.append(pending)
                        pending = None
        for start, line in spans:
            argv = shlex.split(line, comments=True)
            if "|" in argv:  # a pipeline runs in a real shell, with the venv's commands on PATH
                argv = ["bash", "-c", line.split(" #")[0].strip()]
            if argv:
                where = f"{doc.relative_to(ROOT)}:{text.count(chr(10), 0, start) + 1}"
                found.append((where, argv))
    return found


BASH = _doc_commands(inline=False)
INLINE = _doc_commands(inline=True)


def _ids(commands: list[tuple[str, list[str]]]) -> list[str]:
    return [f"{where} {' '.join(argv)}" for where, argv in commands]


def check_parses(argv: list[str]) -> None:
    """The command exists, its ``--help`` lists every option used, named files exist and
    ``key=value`` overrides are valid config keys."""
    from fusionrec.config import load_config

    command, args, path = get_command(app), list(argv[1:]), []
    while hasattr(command, "commands") and args and args[0] in command.commands:
        path.append(args[0])
        command = command.commands[args.pop(0)]
    ctx = command.make_context(" ".join(["fusionrec", *path]), list(args), resilient_parsing=True)
    help_text = CliRunner().invoke(app, [*path, "--help"]).output
    for token in args:
        if token.startswith("-"):
            assert token.split("=")[0] in help_text, f"{token} is not an option of {path}"
    for name in FILE_OPTIONS & set(ctx.params):
        value = ctx.params[name]
        if value is not None and not str(value).isupper():  # CONFIG, FILE: placeholders
            assert (ROOT / value).exists(), f"{value} does not exist"
    if ctx.params.get("config") and (ROOT / ctx.params["config"]).exists():
        overrides = [a for a in args if "=" in a and not a.startswith("-")]
        load_config(ROOT / ctx.params["config"], overrides)


def check_make(argv: list[str]) -> None:
    """The target exists, and each ``fusionrec`` command of its recipe parses."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = argv[1]
    recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)*)", makefile, re.M)
    assert recipe, f"Makefile has no target '{target}'"
    for line in recipe.group(1).splitlines():
        words = shlex.split(line)
        for i, word in enumerate(words):
            if word.endswith("/fusionrec"):
                check_parses(["fusionrec", *words[i + 1 :]])


def seed_feature_cache(cache: Path, dataset_name: str) -> None:
    """Store features for the default encoders of ``dataset_name`` under the keys a real run
    computes, so an encode is a cache read (random values: only the plumbing is tested)."""
    from fusionrec.config import load_config
    from fusionrec.encoders.config import FeaturesConfig
    from fusionrec.encoders.pipeline import default_modalities, modality_inputs
    from fusionrec.encoders.registry import make_encoder
    from fusionrec.encoders.store import CachedFeatures, FeatureStore
    from fusionrec.train.experiment import load_clean_dataset

    dataset = load_clean_dataset(load_config(None, [f"dataset.name={dataset_name}"]))
    config, store, rng = FeaturesConfig(), FeatureStore(cache), np.random.default_rng(0)
    for name in default_modalities(dataset, config):
        inputs, fingerprint, _ = modality_inputs(dataset, name, config, store)
        encoder = make_encoder(getattr(config, name))
        mask = np.array([bool(x) for x in inputs])
        matrix = rng.normal(size=(len(inputs), encoder.dim)).astype(np.float32) * mask[:, None]
        problems = {int(i): "no content" for i in np.flatnonzero(~mask)}
        key = store.key(encoder.id, fingerprint, len(inputs))
        store.save(name, key, CachedFeatures(matrix, mask, problems), {"encoder_id": encoder.id})


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, data_root) -> Path:
    """A scratch project root: configs/ and benchmarks/ linked, ../shared beside it."""
    scratch = tmp_path_factory.mktemp("docs")
    (scratch / "shared").symlink_to(ROOT.parent / "shared")
    repo = scratch / "repo"
    repo.mkdir()
    for name in ("configs", "benchmarks"):
        (repo / name).symlink_to(ROOT / name)
    return repo


@pytest.fixture(scope="module")
def seeded_cache(checkout) -> Path:
    cache = checkout.parent / "cache"
    encoded = {a[a.index("-d") + 1] for _, a in BASH if a[:2] == ["fusionrec", "encode"]}
    for name in encoded | {"movielens-100k-mm"}:  # the cold-start example encodes its text
        seed_feature_cache(cache, name)
    return cache


def run_as_written(argv: list[str], cwd: Path, extra: list[str], env: dict[str, str]) -> str:
    if argv[0] == "make":
        check_make(argv)
        return ""
    if argv[0] == "bash":
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        proc = subprocess.run(
            argv, cwd=cwd, env={**os.environ, **env, "PATH": path}, text=True,
            capture_output=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    if argv[:2] == ["python", "-m"] and argv[2].startswith("fusionrec"):
        proc = subprocess.run(
            [sys.executable, *argv[1:]], cwd=cwd, env={**os.environ, **env}, text=True,
            capture_output=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    assert argv[0].split("/")[-1] == "fusionrec", f"unexpected command {argv}"
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [*argv[1:], *extra], env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def demo_run(checkout, seeded_cache) -> Path:
    """What ``make demo`` leaves for the commands shown after it: the demo study's MGCN and
    LightGCN runs, trained for one epoch on the cached features."""
    from fusionrec.cli.demo import DEMO
    from fusionrec.config import read_yaml
    from fusionrec.train.study import run_study

    spec = read_yaml(DEMO)
    spec["train"] = {**spec.get("train", {}), "epochs": 1}
    spec.setdefault("features", {})["cache_dir"] = str(seeded_cache)
    run_study(spec, checkout / "runs" / "demo", progress=False, only=["mgcn", "lightgcn"])
    return checkout / "runs" / "demo"


@pytest.mark.parametrize(("where", "argv"), BASH, ids=_ids(BASH))
def test_documented_command_runs(where, argv, checkout, seeded_cache, request):
    if any(a.startswith("runs/demo/") for a in argv):
        request.getfixturevalue("demo_run")
    extra = QUICK.get(argv[1], []) if len(argv) > 1 else []
    if extra:
        check_parses(argv)  # the exact text parses; the quick run appends cheap settings
    run_as_written(argv, checkout, extra, {"FUSIONREC_CACHE": str(seeded_cache)})


@pytest.mark.parametrize(("where", "argv"), INLINE, ids=_ids(INLINE))
def test_inline_command_parses(where, argv):
    if argv[0] == "make":
        check_make(argv)
    else:
        check_parses(argv)


@pytest.mark.slow
def test_documented_commands_run_exactly_as_written(tmp_path, data_root):
    """No shortcuts: real encoders, full trainings (tens of minutes on CPU)."""
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("configs", "benchmarks"):
        (repo / name).symlink_to(ROOT / name)
    for _, argv in BASH:
        if argv == ["make", "demo"]:  # later commands read its runs/demo: run its recipe here
            argv = ["fusionrec", "demo"]
        run_as_written(argv, repo, [], {})
