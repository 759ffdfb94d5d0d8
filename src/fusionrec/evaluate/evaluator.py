"""Full-ranking evaluation: every user with held-out items is scored against all items.

For each user the training items are masked (and, when scoring test, the validation items
too), the top ``max(ks)`` are taken with ``torch.topk`` and hits are counted as tensors. Users
are processed in blocks; there is no per-user Python loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.evaluate.masking import mask_seen, row_entries
from fusionrec.evaluate.metrics import block_metrics

log = logging.getLogger(__name__)

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


class Evaluator:
    """Scores users of ``target`` (held-out user x item CSR) with ``exclude`` masked.

    ``candidates``: optional item indices; when given, only they are ranked (cold-start
    protocol: the withheld items are ranked against each other).
    """

    def __init__(
        self,
        target: sp.csr_matrix,
        exclude: sp.csr_matrix | None = None,
        *,
        ks: tuple[int, ...] | list[int] = (10, 20, 50),
        batch_users: int = 4096,
        candidates: np.ndarray | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.target = sp.csr_matrix(target)
        self.target.sum_duplicates()
        self.target.sort_indices()
        self.n_items = self.target.shape[1]
        self.exclude = (
            sp.csr_matrix(self.target.shape, dtype=np.float32)
            if exclude is None
            else sp.csr_matrix(exclude)
        )
        if self.exclude.shape != self.target.shape:
            raise ValueError(f"exclude {self.exclude.shape} != target {self.target.shape}")
        self.ks = sorted({int(k) for k in ks})
        self.batch_users = batch_users
        self.device = torch.device(device)
        n_pos = np.diff(self.target.indptr)
        self.users = np.flatnonzero(n_pos > 0)
        self.n_pos = n_pos
        self.candidate_mask: torch.Tensor | None = None
        if candidates is not None:
            mask = torch.zeros(self.n_items, dtype=torch.bool)
            mask[torch.as_tensor(np.asarray(candidates), dtype=torch.long)] = True
            self.candidate_mask = mask.to(self.device)
        n_rankable = self.n_items if candidates is None else len(candidates)
        self.max_k = min(max(self.ks), n_rankable)
        dropped = [k for k in self.ks if k > self.max_k]
        if dropped:
            log.warning(
                "metrics @%s are not computed: only %d items can be ranked (candidates); "
                "choose smaller evaluate.ks / train.metric or a larger cold_fraction",
                ",".join(map(str, dropped)),
                n_rankable,
            )

    @property
    def n_users(self) -> int:
        return len(self.users)

    def _dense_rows(
        self, mat: sp.csr_matrix, users: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Row/column index tensors of the nonzeros of ``mat[users]`` (rows local to block)."""
        return row_entries(mat, users, self.device)

    def _hits(self, users: np.ndarray, top_idx: torch.Tensor) -> torch.Tensor:
        """Which ranked items are held-out positives: binary search of (row, item) keys in
        the block's sorted target keys, without a dense users x items matrix."""
        r, c = self._dense_rows(self.target, users)
        truth_keys = r * self.n_items + c  # CSR rows and sorted indices: already ascending
        rows = torch.arange(len(users), device=self.device).unsqueeze(1)
        keys = rows * self.n_items + top_idx
        pos = torch.searchsorted(truth_keys, keys).clamp_(max=max(0, len(truth_keys) - 1))
        return truth_keys[pos] == keys

    @torch.no_grad()
    def evaluate(self, score_fn: ScoreFn) -> dict[str, float]:
        """Mean of every metric over evaluated users, plus item ``coverage@K``."""
        sums: dict[str, float] = {}
        recommended = {k: torch.zeros(self.n_items, dtype=torch.bool) for k in self.ks}
        for start in range(0, len(self.users), self.batch_users):
            users = self.users[start : start + self.batch_users]
            scores = score_fn(torch.from_numpy(users).to(self.device)).float()
            if scores.shape != (len(users), self.n_items):
                raise ValueError(
                    f"score() returned shape {tuple(scores.shape)}, "
                    f"expected ({len(users)}, {self.n_items})"
                )
            scores = scores.clone() if not scores.is_contiguous() else scores
            mask_seen(scores, self.exclude, users)
            if self.candidate_mask is not None:
                scores.masked_fill_(~self.candidate_mask, -torch.inf)
            top_val, top_idx = torch.topk(scores, self.max_k, dim=1)
            hits = self._hits(users, top_idx) & (top_val > -torch.inf)
            n_pos = torch.from_numpy(self.n_pos[users]).to(self.device)
            ks = [k for k in self.ks if k <= self.max_k]
            for name, values in block_metrics(hits, n_pos, ks).items():
                sums[name] = sums.get(name, 0.0) + float(values.sum())
            for k in ks:
                recommended[k][top_idx[:, :k].reshape(-1).cpu()] = True
        n = max(1, len(self.users))
        result = {name: total / n for name, total in sums.items()}
        n_catalogue = (
            self.n_items if self.candidate_mask is None else int(self.candidate_mask.sum())
        )
        for k in self.ks:
            if k <= self.max_k:
                result[f"coverage@{k}"] = float(recommended[k].sum()) / max(1, n_catalogue)
        result["users"] = float(len(self.users))
        return result
