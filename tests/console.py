"""Commands run as the console script runs them (``run_app``: exit codes, one-line errors)."""

from __future__ import annotations

import sys

from fusionrec.cli import app
from fusionrec.cli.common import run_app


def cli(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    """Run ``fusionrec ARGS`` as the console script does; (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["fusionrec", *args])
    monkeypatch.setenv("COLUMNS", "1000")  # rich would break long paths across lines
    code = 0
    try:
        run_app(app)
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())
