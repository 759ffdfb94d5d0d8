"""Exceptions that tell the user where the problem is and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class FusionrecError(Exception):
    """Base class: every error fusionrec raises on purpose derives from it."""


class DataError(FusionrecError):
    """Bad input data. The message names the file, line and column where known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.hint = hint
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        text = f"{', '.join(where)}: {message}" if where else message
        if hint:
            text = f"{text}. {hint}"
        super().__init__(text)


class ConfigError(FusionrecError):
    """An invalid configuration value; the message names the key."""


class ModelError(FusionrecError):
    """A model cannot be built or used with what it was given."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean 'x'?`` naming the choice closest to a misspelt ``word``; empty when
    none is close (a guess far off would mislead more than the plain error)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
