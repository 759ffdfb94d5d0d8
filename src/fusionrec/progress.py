"""Progress of long steps (encoding a modality, training epochs), so none runs silently.

On a terminal it is a rich bar with done/total, rate and ETA. When stderr is not a terminal
(a log file, a pipe, CI) a bar would print nothing until the end, so instead an INFO log
line is written each time another ~10% is done, with the same rate and ETA.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger("fusionrec.progress")

#: Log lines in non-terminal mode: one per this fraction of the total.
LOG_STEP = 0.1


@cache
def stderr_console() -> Console:
    """The one stderr console shared by log output and progress bars, so logs print above
    a live bar instead of through it."""
    return Console(stderr=True)


def format_rate(done: float, seconds: float, unit: str) -> str:
    """``123.4 items/s``, or ``2.5 s/epoch`` when fewer than one per second."""
    if done <= 0 or seconds <= 0:
        return ""
    rate = done / seconds
    return f"{rate:,.1f} {unit}/s" if rate >= 1 else f"{1 / rate:,.1f} s/{unit.rstrip('s')}"


@dataclass
class _Task:
    description: str
    total: int
    unit: str
    initial: int
    start: float = field(default_factory=time.perf_counter)
    logged_step: int = 0


class ProgressReporter:
    """Tracks tasks (``add``, ``update``): a live bar on a terminal, log lines elsewhere,
    nothing when disabled."""

    def __init__(
        self,
        enabled: bool = True,
        *,
        logger: logging.Logger = log,
        console: Console | None = None,
    ) -> None:
        self.enabled = enabled
        self.logger = logger
        console = console or stderr_console()
        self._bar = (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
                transient=False,
            )
            if enabled and console.is_terminal
            else None
        )
        self._tasks: dict[int, _Task] = {}

    def __enter__(self) -> ProgressReporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, description: str, total: int, *, unit: str = "items", completed: int = 0) -> int:
        """Start a task of ``total`` units, ``completed`` of them already done (resumed)."""
        task_id = len(self._tasks)
        self._tasks[task_id] = _Task(description, total, unit, completed)
        self._tasks[task_id].logged_step = self._step(completed, total)
        if self._bar is not None:
            self._bar.add_task(
                description, total=total, completed=completed, unit=unit, rate="", info=""
            )
        return task_id

    def update(self, task_id: int, completed: int, info: str = "", rate: str | None = None) -> None:
        """``completed`` units done so far; ``rate`` replaces the computed one (``cached``)."""
        if not self.enabled:
            return
        task = self._tasks[task_id]
        elapsed = time.perf_counter() - task.start
        rate = format_rate(completed - task.initial, elapsed, task.unit) if rate is None else rate
        if self._bar is not None:
            self._bar.update(task_id, completed=completed, rate=rate, info=info)
            return
        step = self._step(completed, task.total)
        if step <= task.logged_step:
            return
        task.logged_step = step
        self.logger.info(
            "%s: %d/%d %s (%d%%)%s%s%s",
            task.description,
            completed,
            task.total,
            task.unit,
            100 * completed // max(task.total, 1),
            f", {rate}" if rate else "",
            self._eta(task, completed, elapsed),
            f", {info}" if info else "",
        )

    @staticmethod
    def _step(completed: int, total: int) -> int:
        return int(completed / total / LOG_STEP + 1e-9) if total > 0 else 0

    @staticmethod
    def _eta(task: _Task, completed: int, elapsed: float) -> str:
        done = completed - task.initial
        if done <= 0 or completed >= task.total:
            return ""
        seconds = round(elapsed / done * (task.total - completed))
        return f", ETA {timedelta(seconds=seconds)}"
