"""Full-ranking evaluation: every user with held-out items is scored against all items.

For each user the training items are masked (and, when scoring test, the validation items
too), the top ``max(ks)`` are taken and hits are counted as tensors. Users are processed in
blocks; there is no per-user Python loop.

Ties are broken by the lower item index, always: ``torch.topk`` alone returns tied items in an
unspecified order (it differs between runs, devices and block sizes), which would make
metrics of models with tied scores (popularity, kNN rows of zeros) irreproducible. The masks
are written into a private copy of each score block, never into the tensor the model
returned, which a model may keep as a cache.

Beside the accuracy metrics, ``evaluate`` says how a model spreads its recommendations:
``coverage@K`` (the share of the rankable items in some user's top K), ``gini@K`` (the Gini
index of how often each rankable item is recommended: 0 when all equally often, near 1
when a few items fill every list) and, given the items' training popularity, ``arp@K``
(average recommendation popularity: the mean training count of a user's top K) and
``tail@K`` (the share of a user's top K from the long tail: every item outside the most
popular ones that together hold 80 % of the training interactions) and ``novelty@K`` (the
mean self-information -log2(share of users who interacted with it) of a user's top K; the
experiment runner gives the popularity except on cold-item splits, whose candidates are all
unrated in training). Popularity bias is the failure content-aware models should help with,
so a table can show it beside recall. Given the training interactions, ``diversity@K`` is
each list's intra-list diversity: one minus the mean cosine similarity of its items'
training columns over every pair (Vargas & Castells, RecSys 2011), computed from one sparse
product per block: for unit columns c, the sum over ordered pairs i != j of c_i . c_j is
|sum c_i|^2 minus the number of non-zero columns.

Sampled-negative metrics (the protocol of the SASRec paper and RecBole's ``uni100``) exist
only when asked for (``sampled_negatives=N``): each user's held-out items are ranked against
N items drawn uniformly, once per evaluator and seeded, from the items the user never
interacted with. They are reported beside the full-ranking metrics under names of their own
(``sampled100-ndcg@10``), never in their place: they are far more optimistic, and their
ordering of models can differ from full ranking's (Krichene & Rendle, KDD 2020).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.errors import ModelError
from fusionrec.evaluate.masking import mask_seen, row_entries
from fusionrec.evaluate.metrics import block_metrics

log = logging.getLogger(__name__)

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


class Evaluator:
    """Scores users of ``target`` (held-out user x item CSR) with ``exclude`` masked.

    ``candidates``: optional item indices; when given, only they are ranked (cold-start
    protocol: the withheld items are ranked against each other). ``sampled_negatives``:
    also report ``sampled{N}-<metric>``, each user's held-out items ranked against N
    negatives drawn (``sample_seed``) from the items outside ``known`` (default: ``target``
    + ``exclude``; pass every interaction of the user). ``item_popularity``: every item's
    count of training interactions (distinct users), for ``arp@K``, ``tail@K`` and
    ``novelty@K``. ``item_interactions``: the user x item training matrix, for
    ``diversity@K``.
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
        sampled_negatives: int | None = None,
        known: sp.csr_matrix | None = None,
        sample_seed: int = 0,
        item_popularity: np.ndarray | None = None,
        item_interactions: sp.spmatrix | None = None,
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
        self.sampled: sp.csr_matrix | None = None
        self.sampled_name = f"sampled{sampled_negatives}" if sampled_negatives else ""
        if sampled_negatives:
            if candidates is not None:
                raise ValueError("sampled negatives and a candidate set exclude each other")
            known = self.target + self.exclude if known is None else sp.csr_matrix(known)
            negatives = sample_negatives(known, self.users, sampled_negatives, sample_seed)
            self.sampled = ((negatives + self.target) > 0).astype(np.float32).tocsr()
            # the most candidates any user has: the sampled ranking's cut for every block
            self.sampled_max_k = min(max(self.ks), int(np.diff(self.sampled.indptr).max(initial=0)))
        self.popularity: torch.Tensor | None = None
        self.tail: torch.Tensor | None = None
        self.novelty: torch.Tensor | None = None
        if item_popularity is not None:
            counts = np.asarray(item_popularity, dtype=np.float64)
            if counts.shape != (self.n_items,):
                raise ValueError(f"item_popularity {counts.shape} != ({self.n_items},)")
            self.popularity = torch.from_numpy(counts)
            self.tail = torch.from_numpy(long_tail(counts))
            self.novelty = torch.from_numpy(self_information(counts, self.target.shape[0]))
        self.unit_columns: sp.csr_matrix | None = None
        if item_interactions is not None:
            if item_interactions.shape[1] != self.n_items:
                raise ValueError(
                    f"item_interactions has {item_interactions.shape[1]} items, "
                    f"the target {self.n_items}"
                )
            self.unit_columns = unit_columns(item_interactions)
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

    def _hits(self, users: np.ndarray, top_idx: torch.Tensor) -> torch.Tensor:
        """Which ranked items are held-out positives: binary search of (row, item) keys in
        the block's sorted target keys, without a dense users x items matrix."""
        r, c = row_entries(self.target, users, self.device)
        truth_keys = r * self.n_items + c  # CSR rows and sorted indices: already ascending
        rows = torch.arange(len(users), device=self.device).unsqueeze(1)
        keys = rows * self.n_items + top_idx
        pos = torch.searchsorted(truth_keys, keys).clamp_(max=max(0, len(truth_keys) - 1))
        return truth_keys[pos] == keys

    def _sampled_metrics(
        self, users: np.ndarray, scores: torch.Tensor, n_pos: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The block's metrics with only its held-out items and sampled negatives ranked."""
        assert self.sampled is not None
        r, c = row_entries(self.sampled, users, self.device)
        only = torch.full_like(scores, -torch.inf)
        only[r, c] = scores[r, c]
        max_k = self.sampled_max_k
        top_val, top_idx = topk_lower_index_first(only, max_k)
        hits = self._hits(users, top_idx) & (top_val > -torch.inf)
        ks = [k for k in self.ks if k <= max_k]
        return {
            f"{self.sampled_name}-{name}": v for name, v in block_metrics(hits, n_pos, ks).items()
        }

    def _blocks(self, score_fn: ScoreFn) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """Per block of users: every metric of each user, and their ranked top items (-1
        past the rankable ones)."""
        ks = [k for k in self.ks if k <= self.max_k]
        for start in range(0, len(self.users), self.batch_users):
            users = self.users[start : start + self.batch_users]
            scores = score_fn(torch.from_numpy(users).to(self.device))
            if scores.shape != (len(users), self.n_items):
                raise ValueError(
                    f"score() returned shape {tuple(scores.shape)}, "
                    f"expected ({len(users)}, {self.n_items})"
                )
            # a private contiguous float32 copy: the masks below must not reach the caller
            scores = scores.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
            mask_seen(scores, self.exclude, users)
            if self.candidate_mask is not None:
                scores.masked_fill_(~self.candidate_mask, -torch.inf)
            top_val, top_idx = topk_lower_index_first(scores, self.max_k)
            ranked = top_val > -torch.inf  # masked items fill the list only past the rankable
            hits = self._hits(users, top_idx) & ranked
            n_pos = torch.from_numpy(self.n_pos[users]).to(self.device)
            metrics = block_metrics(hits, n_pos, ks)
            if self.sampled is not None:
                metrics.update(self._sampled_metrics(users, scores, n_pos))
            yield metrics, top_idx.masked_fill(~ranked, -1)

    @torch.no_grad()
    def evaluate(self, score_fn: ScoreFn) -> dict[str, float]:
        """Mean of every metric over evaluated users, plus how the recommendations spread
        over the items: ``coverage@K``, ``gini@K`` and, with popularity, ``arp@K``,
        ``tail@K``, ``novelty@K``; with the training interactions, ``diversity@K`` (the mean
        over users whose list holds at least two items)."""
        sums: dict[str, float] = {}
        ks = [k for k in self.ks if k <= self.max_k]
        counts = {k: torch.zeros(self.n_items, dtype=torch.float64) for k in ks}
        pairs = dict.fromkeys(ks, 0)  # users whose top K has a pair, diversity's denominator
        per_item_metrics = (
            []
            if self.popularity is None
            else [("arp", self.popularity), ("tail", self.tail), ("novelty", self.novelty)]
        )
        for metrics, top in self._blocks(score_fn):
            for name, values in metrics.items():
                sums[name] = sums.get(name, 0.0) + float(values.sum())
            for k in ks:
                items = top[:, :k].cpu()
                listed = items >= 0  # masked items that pad a short list are not recommended
                counts[k] += torch.bincount(items[listed], minlength=self.n_items)
                rows = items.clamp(min=0)
                length = listed.sum(dim=1).clamp(min=1)
                for name, per_item in per_item_metrics:
                    share = (per_item[rows] * listed).sum(dim=1) / length
                    sums[f"{name}@{k}"] = sums.get(f"{name}@{k}", 0.0) + float(share.sum())
                if self.unit_columns is not None:
                    total, n_lists = list_diversity(self.unit_columns, items.numpy())
                    sums[f"diversity@{k}"] = sums.get(f"diversity@{k}", 0.0) + total
                    pairs[k] += n_lists
        n = max(1, len(self.users))
        result = {name: total / n for name, total in sums.items()}
        rankable = (
            torch.ones(self.n_items, dtype=torch.bool)
            if self.candidate_mask is None
            else self.candidate_mask.cpu()
        )
        for k in ks:
            result[f"coverage@{k}"] = float((counts[k][rankable] > 0).sum()) / max(
                1, int(rankable.sum())
            )
            result[f"gini@{k}"] = gini(counts[k][rankable].numpy())
            if self.unit_columns is not None:
                result[f"diversity@{k}"] = sums.get(f"diversity@{k}", 0.0) / max(1, pairs[k])
        result["users"] = float(len(self.users))
        return result

    @torch.no_grad()
    def per_user(self, score_fn: ScoreFn) -> dict[str, np.ndarray]:
        """Every metric of every evaluated user, rows in the order of ``self.users``: what a
        paired significance test between two models compares (``evaluate`` is their mean)."""
        parts: dict[str, list[np.ndarray]] = {}
        for metrics, _ in self._blocks(score_fn):
            for name, values in metrics.items():
                parts.setdefault(name, []).append(values.cpu().numpy())
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def gini(counts: np.ndarray) -> float:
    """Gini index of non-negative ``counts``: sum_i (2i - n - 1) x_(i) / (n sum x), x
    ascending; 0 when all are equal, (n - 1) / n when one holds everything; 0 when all are 0."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        return 0.0
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total))


def long_tail(popularity: np.ndarray, head_share: float = 0.8) -> np.ndarray:
    """1.0 for long-tail items, 0.0 for the head: the most popular items that together hold
    ``head_share`` of the interactions (ties broken by lower index), the rest the tail."""
    counts = np.asarray(popularity, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")
    total = counts.sum()
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]])  # held by items above
    tail = np.ones(len(counts))
    tail[order[before < head_share * total]] = 0.0
    return tail


def self_information(popularity: np.ndarray, n_users: int) -> np.ndarray:
    """-log2 of each item's share of users who interacted with it in training (novelty);
    an item nobody interacted with counts as one user's, the most novel a rated item can be,
    rather than an infinite value."""
    share = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0) / max(1, n_users)
    return -np.log2(np.minimum(share, 1.0))


def unit_columns(interactions: sp.spmatrix) -> sp.csr_matrix:
    """item x user CSR of the interaction columns scaled to unit length (binary: an item's
    users, each once); an item without interactions keeps an all-zero row, similar to
    nothing."""
    binary = (sp.csc_matrix(interactions) != 0).astype(np.float64)
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(binary.multiply(scale[None, :]).T)


def list_diversity(unit: sp.csr_matrix, top: np.ndarray) -> tuple[float, int]:
    """Sum over the rows of ``top`` (item indices, -1 for padding) of each list's
    intra-list diversity 1 - mean_{i != j} cos(c_i, c_j), and how many rows had at least
    two items to pair (the others are left out of both)."""
    listed = top >= 0
    length = listed.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(length)])
    lists = sp.csr_matrix(
        (np.ones(int(indptr[-1])), top[listed], indptr), shape=(len(top), unit.shape[0])
    )
    summed = lists @ unit  # each list's column sum, users x training users
    square = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    self_terms = lists @ (np.diff(unit.indptr) > 0).astype(np.float64)
    paired = length >= 2
    n_pairs = (length * (length - 1))[paired]
    similarity = (square - self_terms)[paired] / n_pairs
    return float((1.0 - similarity).sum()), int(paired.sum())


def sample_negatives(known: sp.csr_matrix, users: np.ndarray, n: int, seed: int) -> sp.csr_matrix:
    """[n_users, n_items] CSR of up to ``n`` distinct items per row of ``users`` drawn
    uniformly from the items that row of ``known`` lacks (fewer when fewer remain): the
    ``n`` smallest of uniform noise with the known items pushed to +inf, in user blocks."""
    n_users, n_items = known.shape
    gen = torch.Generator().manual_seed(seed)
    block = max(1, (1 << 22) // max(1, n_items))
    rows, cols = [], []
    for start in range(0, len(users), block):
        part = users[start : start + block]
        noise = torch.rand(len(part), n_items, generator=gen)
        r, c = row_entries(known, part)
        noise[r, c] = torch.inf
        val, idx = torch.topk(noise, min(n, n_items), dim=1, largest=False)
        keep = (val < torch.inf).numpy()
        rows.append(np.repeat(part, keep.sum(axis=1)))
        cols.append(idx.numpy()[keep])
    r, c = (
        np.concatenate([np.zeros(0, np.int64), *rows]),
        np.concatenate([np.zeros(0, np.int64), *cols]),
    )
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))


def topk_lower_index_first(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k)`` per row, but items with equal scores are ranked by ascending
    item index, both across the cut (which tied items make the top ``k``) and inside it.

    One ``torch.topk`` of ``k + 1`` finds the rows where an item left out ties with the last
    one kept; only those are redone: every item above the cut value is kept, and the
    lowest-index items equal to it fill the remaining places. Items at -inf (masked) are not
    ranked, so their order is left as it comes. NaN scores are an error.
    """
    n_items = scores.shape[1]
    if k == 0:  # nothing can be ranked (e.g. no candidate items)
        return torch.topk(scores, 0, dim=1)
    val, idx = torch.topk(scores, min(k + 1, n_items), dim=1)
    if torch.isnan(val[:, 0]).any():  # topk ranks NaN above everything
        raise ModelError(
            "score() returned NaN scores; the model diverged (lower train.lr) or divides by "
            "zero for some users or items"
        )
    if k < n_items:
        cut = val[:, k - 1]
        rows = torch.nonzero((val[:, k] == cut) & (cut > -torch.inf)).squeeze(1)
        val, idx = val[:, :k], idx[:, :k]
        if len(rows):
            sub, sub_cut = scores[rows], cut[rows].unsqueeze(1)
            above = sub > sub_cut
            tied = sub == sub_cut
            room = k - above.sum(dim=1, keepdim=True, dtype=torch.int32)
            keep = above | (tied & (tied.cumsum(dim=1, dtype=torch.int32) <= room))
            sub_idx = torch.nonzero(keep)[:, 1].view(len(rows), k)  # k per row, ascending
            idx[rows] = sub_idx
            val[rows] = sub.gather(1, sub_idx)
    # inside the top k: by score, ties by index (sort by index, then a stable sort by score)
    idx, order = idx.sort(dim=1)
    val, order = val.gather(1, order).sort(dim=1, descending=True, stable=True)
    return val, idx.gather(1, order)
