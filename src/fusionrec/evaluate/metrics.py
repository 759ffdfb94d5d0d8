"""Top-K ranking metrics computed on a block of users at once, as tensors.

Definitions follow the public MMRec benchmark so numbers compare with papers:
- Recall@K = hits in top K / number of the user's held-out items;
- NDCG@K: binary relevance, DCG = sum 1/log2(rank+1), ideal DCG over min(K, held-out);
- Precision@K = hits / K; HitRate@K = 1 if any hit;
- F1@K = harmonic mean of the user's Precision@K and Recall@K (0 without a hit), then averaged
  over users like every other metric (not the F1 of the averaged precision and recall);
- MAP@K = sum over hit ranks r <= K of Precision@r, divided by min(K, held-out);
- MRR@K = 1 / rank of the first hit within K (0 if none).
Each function returns per-user sums for every K so callers can accumulate over blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

METRICS = ("recall", "ndcg", "precision", "f1", "hit", "map", "mrr")


def block_metrics(
    hits: torch.Tensor, n_pos: torch.Tensor, ks: list[int]
) -> dict[str, torch.Tensor]:
    """Per-user metric values for a block.

    ``hits``: bool [users, max(ks)], True where the item at that rank is held-out positive.
    ``n_pos``: [users] number of held-out positives (>= 1).
    Returns ``{"recall@10": tensor[users], ...}``.
    """
    max_k = hits.shape[1]
    h = hits.float()
    n_pos = n_pos.float()
    ranks = torch.arange(1, max_k + 1, dtype=torch.float32, device=hits.device)
    discount = 1.0 / torch.log2(ranks + 1.0)
    cum_hits = h.cumsum(dim=1)
    dcg = (h * discount).cumsum(dim=1)
    ideal = discount.cumsum(dim=0)
    sum_prec = (cum_hits / ranks * h).cumsum(dim=1)
    first_hit = torch.where(hits.any(dim=1), hits.float().argmax(dim=1) + 1, max_k + 1)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        if k > max_k:
            raise ValueError(f"K={k} exceeds the {max_k} ranked items")
        n_hit = cum_hits[:, k - 1]
        capped = torch.clamp(n_pos, max=k)
        out[f"recall@{k}"] = n_hit / n_pos
        out[f"ndcg@{k}"] = dcg[:, k - 1] / ideal[capped.long() - 1]
        out[f"precision@{k}"] = n_hit / k
        # 2PR/(P+R) with P = h/k, R = h/n simplifies to 2h/(k+n): no division by zero.
        out[f"f1@{k}"] = 2.0 * n_hit / (k + n_pos)
        out[f"hit@{k}"] = (n_hit > 0).float()
        out[f"map@{k}"] = sum_prec[:, k - 1] / capped
        out[f"mrr@{k}"] = torch.where(first_hit <= k, 1.0 / first_hit.float(), 0.0)
    return out


def mean_std(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) of a metric over
    runs: seeds, folds or splits are a sample of the runs one could have made."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
