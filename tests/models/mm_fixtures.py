"""A small synthetic multimodal world for model tests: users and items share latent factors,
both modalities are noisy linear views of the item factors (so they are correlated), genre
labels are thresholded projections of them, and users prefer items close to their factors.
Preference follows features, so content-aware models can rank items never seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.evaluate import Evaluator
from fusionrec.models.base import TrainData


@dataclass
class World:
    train: sp.csr_matrix
    test: sp.csr_matrix
    features: ItemFeatures
    labels: np.ndarray
    item_latent: np.ndarray
    cold_items: np.ndarray  # items withheld from train (empty for a warm world)

    @property
    def n_users(self) -> int:
        return self.train.shape[0]

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    def data(self, labels: bool = True) -> TrainData:
        item_labels = {"genres": self.labels} if labels else {}
        return TrainData(self.n_users, self.n_items, self.train, self.features, item_labels)

    def evaluator(self) -> Evaluator:
        cands = self.cold_items if len(self.cold_items) else None
        return Evaluator(self.test, self.train, ks=(10, 20), candidates=cands)


def make_world(
    n_users: int = 150,
    n_items: int = 200,
    latent: int = 6,
    dims: tuple[int, ...] = (24, 16),
    noise: float = 0.3,
    missing: float = 0.1,
    per_user: int = 20,
    n_labels: int = 5,
    cold_fraction: float = 0.0,
    seed: int = 0,
) -> World:
    rng = np.random.default_rng(seed)
    z_items = rng.normal(size=(n_items, latent)).astype(np.float32)
    z_users = rng.normal(size=(n_users, latent)).astype(np.float32)
    mods = {}
    names = ["text", "image", "audio"]
    for m, dim in enumerate(dims):
        w = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
        x = z_items @ w + noise * rng.normal(size=(n_items, dim)).astype(np.float32)
        mask = rng.random(n_items) >= missing
        mods[names[m]] = ModalityFeatures(names[m], x, mask)
    labels = (z_items @ rng.normal(size=(latent, n_labels)) > 0.5).astype(np.float32)
    # each user's items: the top of a noisy affinity (preference follows the latent factors)
    affinity = z_users @ z_items.T + 0.5 * rng.gumbel(size=(n_users, n_items))
    top = np.argsort(-affinity, axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user)
    cols = top.ravel()
    cold = np.sort(rng.choice(n_items, int(cold_fraction * n_items), replace=False))
    if len(cold):
        is_test = np.isin(cols, cold)
    else:
        is_test = rng.random(len(cols)) < 0.2
    shape = (n_users, n_items)
    ones = np.ones(len(cols), dtype=np.float32)
    train = sp.csr_matrix((ones[~is_test], (rows[~is_test], cols[~is_test])), shape=shape)
    test = sp.csr_matrix((ones[is_test], (rows[is_test], cols[is_test])), shape=shape)
    return World(train, test, ItemFeatures(n_items, mods), labels, z_items, cold)


def batches(world: World, batch_size: int = 512, seed: int = 0, n_neg: int = 1):
    """One epoch of BPR batches (users, pos_items, neg_items) as the trainer makes them."""
    rng = np.random.default_rng(seed)
    coo = world.train.tocoo()
    order = rng.permutation(coo.nnz)
    for start in range(0, coo.nnz, batch_size):
        idx = order[start : start + batch_size]
        neg = rng.integers(0, world.n_items, size=(len(idx), n_neg) if n_neg > 1 else len(idx))
        yield {
            "users": torch.from_numpy(coo.row[idx].astype(np.int64)),
            "pos_items": torch.from_numpy(coo.col[idx].astype(np.int64)),
            "neg_items": torch.from_numpy(neg.astype(np.int64)),
        }


def train_epochs(model, world: World, epochs: int, lr: float = 1e-2, seed: int = 0) -> list[float]:
    """A plain Adam loop (no evaluation), returning the mean loss of every epoch."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    history = []
    for epoch in range(epochs):
        model.train()
        total, n = 0.0, 0
        for batch in batches(world, seed=seed + epoch):
            opt.zero_grad()
            loss = model.calculate_loss(batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch["users"])
            n += len(batch["users"])
        history.append(total / n)
    model.eval()
    return history
