"""Synthetic data and contract checks for the VBPR/FREEDOM/LATTICE/BM3 tests.

Preference is determined by content.

Items fall into clusters; each modality is the cluster's centroid plus noise (so items of a
cluster have similar features), and every user prefers one cluster. Some items miss their
image (mask False), and some items are withheld from training (cold items) so content-aware
models can be checked on items they have never seen interact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.evaluate import Evaluator
from fusionrec.models.base import Recommender, TrainData


@dataclass
class Synthetic:
    data: TrainData
    cluster: np.ndarray
    user_pref: np.ndarray
    cold_items: np.ndarray
    cold_target: sp.csr_matrix
    warm_target: sp.csr_matrix

    def cold_evaluator(self, ks: tuple[int, ...] = (5, 10)) -> Evaluator:
        return Evaluator(
            self.cold_target, self.data.train_matrix, ks=ks, candidates=self.cold_items
        )

    def warm_evaluator(self, ks: tuple[int, ...] = (5, 10)) -> Evaluator:
        return Evaluator(self.warm_target, self.data.train_matrix, ks=ks)


def make_synthetic(
    n_users: int = 80,
    n_items: int = 120,
    n_clusters: int = 4,
    missing_image: float = 0.15,
    cold_frac: float = 0.2,
    seed: int = 0,
) -> Synthetic:
    rng = np.random.default_rng(seed)
    cluster = np.arange(n_items) % n_clusters
    rng.shuffle(cluster)
    mods = {}
    for name, dim in (("text", 16), ("image", 12)):
        centroids = rng.normal(size=(n_clusters, dim)) * 2.0
        matrix = centroids[cluster] + rng.normal(size=(n_items, dim))
        mask = np.ones(n_items, dtype=bool)
        if name == "image":
            mask[rng.choice(n_items, size=int(missing_image * n_items), replace=False)] = False
        mods[name] = ModalityFeatures(name, matrix.astype(np.float32), mask)
    features = ItemFeatures(n_items, mods)

    user_pref = rng.integers(n_clusters, size=n_users)
    prob = np.where(cluster[None, :] == user_pref[:, None], 0.45, 0.02)
    inter = rng.random((n_users, n_items)) < prob
    cold = np.sort(rng.choice(n_items, size=int(cold_frac * n_items), replace=False))
    is_cold = np.zeros(n_items, dtype=bool)
    is_cold[cold] = True
    held = (rng.random((n_users, n_items)) < 0.2) & inter & ~is_cold[None, :]
    train = inter & ~is_cold[None, :] & ~held
    cold_target = inter & is_cold[None, :]
    data = TrainData(
        n_users=n_users,
        n_items=n_items,
        train_matrix=sp.csr_matrix(train.astype(np.float32)),
        features=features,
    )
    return Synthetic(
        data=data,
        cluster=cluster,
        user_pref=user_pref,
        cold_items=cold,
        cold_target=sp.csr_matrix(cold_target.astype(np.float32)),
        warm_target=sp.csr_matrix(held.astype(np.float32)),
    )


def text_only(syn: Synthetic) -> TrainData:
    """The same interactions with a single modality."""
    d = syn.data
    return TrainData(d.n_users, d.n_items, d.train_matrix, d.features.select(["text"]))


def sample_batch(data: TrainData, size: int = 256, seed: int = 0, n_neg: int = 1) -> dict:
    """A fixed BPR batch: training pairs and uniformly drawn items as negatives."""
    rng = np.random.default_rng(seed)
    coo = data.train_matrix.tocoo()
    idx = rng.choice(coo.nnz, size=min(size, coo.nnz), replace=False)
    neg_shape = (len(idx),) if n_neg == 1 else (len(idx), n_neg)
    return {
        "users": torch.from_numpy(coo.row[idx].astype(np.int64)),
        "pos_items": torch.from_numpy(coo.col[idx].astype(np.int64)),
        "neg_items": torch.from_numpy(rng.integers(data.n_items, size=neg_shape)),
    }


def loss_trajectory(model: Recommender, batch: dict, steps: int = 30, lr: float = 0.01) -> list:
    """Losses of ``steps`` Adam steps on one fixed batch (epoch hooks called once)."""
    torch.manual_seed(0)
    model.train()
    model.on_epoch_start(1)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def check_scores(model: Recommender, n_users: int, n_items: int) -> None:
    """The score contract: [users, n_items] for all items, [users, len(items)] for a subset,
    the subset's columns equal to the full matrix's, finite, same in eval mode twice."""
    model.eval()
    users = torch.arange(min(7, n_users))
    full = model.score(users)
    assert full.shape == (len(users), n_items)
    assert torch.isfinite(full).all()
    items = torch.tensor([0, 3, n_items - 1, 5])
    sub = model.score(users, items)
    assert sub.shape == (len(users), len(items))
    torch.testing.assert_close(sub, full[:, items], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.score(users), full)
    model.train()


def cluster_purity(adj: sp.spmatrix, cluster: np.ndarray) -> float:
    """Share of off-diagonal edges whose two ends lie in the same cluster."""
    coo = sp.coo_matrix(adj)
    off = coo.row != coo.col
    return float((cluster[coo.row[off]] == cluster[coo.col[off]]).mean())


def train_quick(model: Recommender, syn: Synthetic, epochs: int, lr: float = 0.01, **kw) -> None:
    """A short real training run through the project trainer (selection on warm valid)."""
    from fusionrec.config import TrainConfig
    from fusionrec.train.trainer import train_model

    cfg = TrainConfig(
        epochs=epochs, batch_size=256, lr=lr, patience=epochs, seed=0, metric="recall@10", **kw
    )
    train_model(model, syn.data, syn.warm_evaluator(), cfg, progress=False)
