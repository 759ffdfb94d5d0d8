"""Run directories never hold the wrong thing: one writer, one run, clear refusals.

Commands run through ``run_app`` (the console entry point's code path: exit codes, one-line
errors) or as a real ``fusionrec`` process where a signal is involved."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from console import cli
from fusionrec.train.rundir import LOCK, RunLock
from fusionrec.train.trainer import Trainer
from toy_data import toy_config


@pytest.fixture
def toy(tmp_path):
    """(config path, run directory) of a 2-epoch toy run."""
    return toy_config(tmp_path), tmp_path / "run"


def train(capsys, monkeypatch, cfg: Path, run: Path, *extra: str) -> tuple[int, str]:
    return cli(capsys, monkeypatch, "train", "-c", str(cfg), "--run-dir", str(run), "--quiet",
               "train.epochs=2", *extra)  # fmt: skip


def test_a_locked_run_directory_is_refused_naming_the_holder(toy, capsys, monkeypatch):
    cfg, run = toy
    run.mkdir()
    with RunLock(run):
        code, out = train(capsys, monkeypatch, cfg, run)
        holder = json.loads((run / LOCK).read_text())
    assert code == 2, out
    assert "in use by another fusionrec process" in out
    assert f"pid {os.getpid()}" in out and f"started {holder['started']}" in out
    assert sorted(p.name for p in run.iterdir()) == []  # nothing written, lock released


def test_a_stale_lock_is_taken_over_with_a_warning_and_removed_on_exit(toy, capsys, monkeypatch):
    cfg, run = toy
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.mkdir()
    stale = {"pid": dead.pid, "host": "here", "started": "2026-01-01T00:00:00+00:00"}
    (run / LOCK).write_text(json.dumps(stale))
    code, out = train(capsys, monkeypatch, cfg, run)
    assert code == 0, out
    assert f"pid {dead.pid}" in out and "taking it over" in out
    assert not (run / LOCK).exists() and (run / "results.json").exists()


def test_resume_with_changed_settings_is_refused_before_touching_anything(toy, capsys, monkeypatch):
    cfg, run = toy
    assert train(capsys, monkeypatch, cfg, run)[0] == 0
    (run / "results.json").unlink()  # as if interrupted
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, out = train(
        capsys, monkeypatch, cfg, run, "train.lr=0.001", "model.params.embedding_size=8", "--resume"
    )
    assert code == 2, out
    assert "train.lr: 0.01 (saved) != 0.001 (now)" in out
    assert "model.params.embedding_size: 64 (saved) != 8 (now)" in out
    assert "Traceback" not in out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert cli(capsys, monkeypatch, "evaluate", str(run))[0] == 0  # the run still evaluates


def test_resume_may_raise_the_epochs_and_continues_from_the_checkpoint(toy, capsys, monkeypatch):
    cfg, run = toy
    assert train(capsys, monkeypatch, cfg, run, "train.patience=50")[0] == 0
    code, out = train(capsys, monkeypatch, cfg, run, "train.patience=50", "train.epochs=4",
                      "--resume")  # fmt: skip
    assert code == 0, out
    history = json.loads((run / "seed-2026" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 4
    log = (run / "seed-2026" / "train.log").read_text()
    assert "resumed from" in log and log.count("epoch 1/") == 1


def test_resume_without_a_run_is_refused(toy, capsys, monkeypatch):
    cfg, run = toy
    code, out = train(capsys, monkeypatch, cfg, run, "--resume")
    assert code == 2 and "nothing to resume" in out and "drop --resume" in out


def test_rerun_over_a_run_needs_resume_or_overwrite(toy, capsys, monkeypatch):
    cfg, run = toy
    assert train(capsys, monkeypatch, cfg, run, "--seeds", "1")[0] == 0
    log = (run / "seed-1" / "train.log").read_text()
    code, out = train(capsys, monkeypatch, cfg, run, "--seeds", "1")
    assert code == 2 and "already holds a run" in out
    assert "--resume" in out and "--overwrite" in out
    assert (run / "seed-1" / "train.log").read_text() == log  # nothing appended
    code, out = train(capsys, monkeypatch, cfg, run, "--seeds", "2", "--overwrite")
    assert code == 0, out
    assert not (run / "seed-1").exists()  # the old run's files are gone
    assert (run / "seed-2" / "train.log").read_text().count("epoch 1/") == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert LOCK not in manifest["files"] and json.loads((run / "results.json").read_text())[
        "seeds"
    ] == [2]


def test_ctrl_c_exits_130_and_prints_the_command_that_resumes(tmp_path, capsys, monkeypatch):
    cfg = toy_config(tmp_path)
    run = tmp_path / "run"
    exe = [sys.executable, "-c", "from fusionrec.cli import main; main()"]
    args = ["train", "-c", str(cfg), "--run-dir", str(run), "--quiet"]
    args += ["train.epochs=100000", "train.patience=100000", "train.checkpoint_seconds=0"]
    proc = subprocess.Popen(
        [*exe, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell starts background jobs with SIGINT ignored, and Python then installs no
        # KeyboardInterrupt handler: restore the default so Ctrl-C reaches the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    checkpoint = run / "seed-2026" / "checkpoint.pt"
    deadline = time.monotonic() + 300  # generous: a loaded CI machine starts torch slowly
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "training never wrote a checkpoint"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    err = " ".join(err.split())
    assert f"latest checkpoint is {checkpoint}" in err and "Traceback" not in err
    command = shlex.split(err.split("resume with: ", 1)[1])
    assert command[:2] == ["fusionrec", "train"] and command[-1] == "--resume"
    assert not (run / LOCK).exists()
    epoch = torch.load(checkpoint, weights_only=False)["epoch"]
    code, out = cli(capsys, monkeypatch, *command[1:], f"train.epochs={epoch + 2}")
    assert code == 0, out
    history = json.loads((run / "seed-2026" / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, epoch + 3))


def interrupt_at_epoch(monkeypatch, stop: int) -> None:
    """Make training raise KeyboardInterrupt at the start of epoch ``stop`` (Ctrl-C)."""
    original = Trainer.train_epoch

    def epoch_or_interrupt(self, epoch):
        if epoch == stop:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", epoch_or_interrupt)


def test_ctrl_c_right_after_a_checkpoint_lands_names_that_checkpoint(toy, capsys, monkeypatch):
    """Ctrl-C between the checkpoint's atomic rename and the trainer's note of it: the file
    in place is epoch 3's, and the message says so (it said no checkpoint was written, or an
    older epoch, when a loaded machine delayed the note)."""
    import fusionrec.train.trainer as trainer

    cfg, run = toy
    real = trainer.save_torch

    def save_then_interrupt(path, obj):
        real(path, obj)
        if Path(path).name == trainer.CHECKPOINT and obj["epoch"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_torch", save_then_interrupt)
    code, out = train(capsys, monkeypatch, cfg, run, "train.epochs=5", "train.checkpoint_seconds=0")
    assert code == 130, out
    checkpoint = run / "seed-2026" / "checkpoint.pt"
    assert f"latest checkpoint is {checkpoint} (epoch 3)" in out
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 3


def test_evaluate_warns_about_an_interrupted_run(toy, capsys, monkeypatch):
    cfg, run = toy
    interrupt_at_epoch(monkeypatch, 3)
    every_epoch = "train.checkpoint_seconds=0"
    code, out = train(
        capsys, monkeypatch, cfg, run, "train.epochs=5", every_epoch, "--seeds", "1,2"
    )
    assert code == 130, out
    assert f"latest checkpoint is {run / 'seed-1' / 'checkpoint.pt'} (epoch 2)" in out
    assert "--seeds 1,2" in out and out.rstrip().endswith("--resume")
    monkeypatch.undo()
    best = torch.load(run / "seed-1" / "checkpoint.pt", weights_only=False)["best"]["epoch"]
    code, out = cli(capsys, monkeypatch, "evaluate", str(run))
    assert code == 0, out
    assert "is incomplete" in out
    assert f"seed 1: best.pt from epoch {best}, last checkpoint at epoch 2" in out
    assert "seed 2: not trained yet" in out and "seed 1" in out.split("incomplete")[1]


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_a_corrupt_checkpoint_is_one_clear_error(toy, capsys, monkeypatch, name):
    cfg, run = toy
    assert train(capsys, monkeypatch, cfg, run)[0] == 0
    path = run / "seed-2026" / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    if name == "checkpoint.pt":
        code, out = train(capsys, monkeypatch, cfg, run, "--resume")
        fix = "delete it to restart this seed"
    else:
        code, out = cli(capsys, monkeypatch, "evaluate", str(run))
        fix = "--overwrite"
    assert code == 2, out
    assert f"error: {path} is truncated or corrupt" in out and fix in out
    assert "Traceback" not in out


def test_an_unwritable_run_directory_fails_before_loading_data(tmp_path, capsys, monkeypatch):
    cfg = toy_config(tmp_path, dataset={"name": "toy", "path": str(tmp_path / "missing.csv")})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, out = cli(capsys, monkeypatch, "train", "-c", str(cfg), "--run-dir", str(blocker / "run"))
    assert code == 2, out
    assert f"cannot write to the run directory {blocker / 'run'}" in out and "--run-dir" in out
    code, out = cli(capsys, monkeypatch, "train", "-c", str(cfg), f"output_dir={blocker}")
    assert code == 2 and f"cannot write to the run directory {blocker}" in out, out
    cache = blocker / "cache"
    args = ["train", "-c", str(cfg), "--run-dir", str(tmp_path / "run")]
    code, out = cli(capsys, monkeypatch, *args, f"features.cache_dir={cache}")
    assert code == 2 and f"cannot write to the feature cache {cache}" in out, out


def test_encode_checks_its_cache_before_encoding(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = ["encode", "-d", str(tmp_path / "missing"), "--cache-dir", str(blocker / "cache")]
    code, out = cli(capsys, monkeypatch, *args)
    assert code == 2, out
    assert f"cannot write to the feature cache {blocker / 'cache'}" in out
    assert "--cache-dir" in out and "Traceback" not in out


def test_a_cutoff_beyond_the_catalogue_is_a_config_error(toy, capsys, monkeypatch):
    cfg, run = toy
    code, out = train(capsys, monkeypatch, cfg, run, "train.metric=recall@5000")
    assert code == 2, out
    assert "train.metric recall@5000: K=5000 but there are only 40 items" in out
    assert not list(run.glob("seed-*"))  # refused before training
    code, out = train(capsys, monkeypatch, cfg, run, "evaluate.ks=[5,100]")
    assert code == 2 and "evaluate.ks [100]" in out and "40 items" in out, out
    assert train(capsys, monkeypatch, cfg, run)[0] == 0  # the failed attempts block nothing


def test_a_trained_runs_split_cannot_be_replaced_unnoticed(toy, capsys, monkeypatch, tmp_path):
    cfg, run = toy
    assert train(capsys, monkeypatch, cfg, run, "--seeds", "1")[0] == 0
    split = (run / "split.parquet").read_bytes()
    code, out = cli(capsys, monkeypatch, "data", "split", "-c", str(cfg), "-o", str(run),
                    "split.method=random", "split.seed=7")  # fmt: skip
    assert code == 2 and "holds a trained run" in out and "another folder" in out
    assert (run / "split.parquet").read_bytes() == split
    # a split copied in by hand: the manifest's digest catches it before anything is scored
    other = tmp_path / "other"
    code, out = cli(capsys, monkeypatch, "data", "split", "-c", str(cfg), "-o", str(other),
                    "split.method=random", "split.seed=7")  # fmt: skip
    assert code == 0, out
    (run / "split.parquet").write_bytes((other / "split.parquet").read_bytes())
    code, out = cli(capsys, monkeypatch, "evaluate", str(run))
    assert code == 2 and "not the split the run trained on" in out and "--overwrite" in out
    (run / "split.parquet").write_bytes(split)
    assert cli(capsys, monkeypatch, "evaluate", str(run))[0] == 0


def test_a_run_reads_its_data_from_any_working_directory(tmp_path, capsys, monkeypatch):
    project = tmp_path / "project"
    toy_config(project)  # writes project/data/interactions.csv
    cfg = project / "relative.yaml"
    dataset = {"name": "toy", "path": "data/interactions.csv"}
    settings = {"dataset": dataset, "model": {"name": "mf-bpr"}, "evaluate": {"ks": [5]}}
    cfg.write_text(yaml.safe_dump(settings))
    monkeypatch.chdir(project)
    assert train(capsys, monkeypatch, cfg, Path("run"), "--seeds", "1")[0] == 0
    saved = yaml.safe_load((project / "run" / "config.yaml").read_text())
    assert saved["dataset"]["path"] == str(project / "data" / "interactions.csv")
    monkeypatch.chdir(tmp_path)
    code, out = cli(capsys, monkeypatch, "evaluate", "project/run")
    assert code == 0, out
    # the same relative config still resumes the run: paths compare as the files they name
    monkeypatch.chdir(project)
    code, out = train(capsys, monkeypatch, cfg, Path("run"), "--seeds", "1", "--resume")
    assert code == 0, out


def test_an_attempt_that_failed_before_training_does_not_block_the_retry(toy, capsys, monkeypatch):
    cfg, run = toy
    code, out = train(capsys, monkeypatch, cfg, run, "--seeds", "1", "model.name=vbpr")
    assert code == 2 and "feature" in out  # VBPR needs item features the toy data lacks
    assert [p.name for p in (run / "seed-1").iterdir()] == ["train.log"]
    code, out = train(capsys, monkeypatch, cfg, run, "--seeds", "1")
    assert code == 0, out


def test_a_saved_split_for_other_cleaning_settings_is_refused(toy, capsys, monkeypatch):
    cfg, run = toy
    assert cli(capsys, monkeypatch, "data", "split", "-c", str(cfg), "-o", str(run))[0] == 0
    code, out = train(capsys, monkeypatch, cfg, run, "dataset.implicit_threshold=3")
    assert code == 2, out
    assert "of the split's 600 interactions are not in dataset 'toy'" in out
    assert "implicit_threshold" in out


def test_a_saved_split_of_another_method_than_the_config_asks_is_refused(toy, capsys, monkeypatch):
    cfg, run = toy
    args = ("data", "split", "-c", str(cfg), "-o", str(run), "split.method=temporal")
    assert cli(capsys, monkeypatch, *args)[0] == 0
    code, out = train(capsys, monkeypatch, cfg, run, "split.method=random")
    assert code == 2 and "asks for 'random', but" in out and "holds a 'temporal' split" in out
    assert train(capsys, monkeypatch, cfg, run)[0] == 0  # no method asked: the saved split


def test_cuda_without_a_gpu_is_one_line(toy, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out = train(capsys, monkeypatch, *toy, "train.device=cuda")
    assert code == 2 and "no usable CUDA device" in out and "train.device=auto" in out
    assert "Traceback" not in out
