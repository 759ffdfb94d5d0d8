"""A spy on ``Evaluator.evaluate``: which evaluator ran, for which model, with what result.

Tests use it to count how often the test split is scored and to get hold of the trained model
the experiment runner scored, without changing the runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import scipy.sparse as sp
import torch

from fusionrec.evaluate import Evaluator


@dataclass
class Evaluation:
    evaluator: Evaluator
    model: Any  # the Recommender whose bound ``score`` was evaluated, else None
    scores: torch.Tensor | None  # that model's full score matrix when it was evaluated
    metrics: dict[str, float]


@dataclass
class EvaluationSpy:
    calls: list[Evaluation] = field(default_factory=list)

    def on(self, target: sp.spmatrix) -> list[Evaluation]:
        """The evaluations whose held-out matrix is ``target`` (e.g. the test split)."""
        target = sp.csr_matrix(target)
        return [
            c
            for c in self.calls
            if c.evaluator.target.shape == target.shape and (c.evaluator.target != target).nnz == 0
        ]


@contextmanager
def spy_on_evaluations() -> Iterator[EvaluationSpy]:
    spy = EvaluationSpy()
    original = Evaluator.evaluate

    def evaluate(evaluator: Evaluator, score_fn: Any) -> dict[str, float]:
        model = getattr(score_fn, "__self__", None)
        scores = None
        if model is not None:
            users = torch.arange(evaluator.target.shape[0], device=evaluator.device)
            with torch.no_grad():
                scores = model.score(users).detach().clone()
        metrics = original(evaluator, score_fn)
        spy.calls.append(Evaluation(evaluator, model, scores, metrics))
        return metrics

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Evaluator, "evaluate", evaluate)
        yield spy
