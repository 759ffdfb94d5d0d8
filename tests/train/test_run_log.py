"""A seed's ``train.log`` holds its epoch lines however the run was started: from a program
that never configured logging (the Python API) as from the CLI, without printing them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fusionrec.config import load_config
from fusionrec.train.experiment import run_experiment
from toy_data import toy_config, write_toy_dataset


def test_python_api_run_logs_its_epochs_without_printing_them(tmp_path: Path) -> None:
    data = write_toy_dataset(tmp_path / "data")
    script = textwrap.dedent(
        f"""
        import fusionrec
        fusionrec.fit({str(data)!r}, "mf-bpr", train={{"epochs": 3, "batch_size": 128}},
                      run_dir={str(tmp_path / "run")!r}, overrides=["evaluate.ks=[5,10]"])
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "run" / "seed-2026" / "train.log").read_text()
    assert [f"epoch {e}/3" in log for e in (1, 2, 3)] == [True] * 3
    assert "epoch 1/3" not in proc.stderr + proc.stdout  # the console stays quiet


def test_a_configured_program_keeps_its_logging(tmp_path: Path) -> None:
    """pytest configures logging (handlers on the root logger): the package logger's level
    and handlers are the program's before and after a run."""
    logger = logging.getLogger("fusionrec")
    before = (logger.level, list(logger.handlers))
    assert logging.getLogger().handlers  # configured, as the test asserts of itself
    run_experiment(load_config(toy_config(tmp_path)), tmp_path / "run", progress=False)
    assert (logger.level, list(logger.handlers)) == before
