"""FREEDOM: contract, the frozen sparse kNN item graph, degree-sensitive pruning, and the
item graph carrying collaborative signal to items never seen in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic_mm import (
    Synthetic,
    check_scores,
    cluster_purity,
    loss_trajectory,
    sample_batch,
    text_only,
    train_quick,
)

from fusionrec.models.base import TrainData, build_model
from fusionrec.models.freedom import FREEDOM, FREEDOMParams, frozen_item_graph, modality_weights
from fusionrec.models.graph import SparseGraph
from fusionrec.models.item_graph import degree_sensitive_sample

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> FREEDOM:
    torch.manual_seed(0)
    return FREEDOM(data, FREEDOMParams(**params))


def test_scores_and_loss(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, sample_batch(synthetic.data))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]
    multi = loss_trajectory(make(text_only(synthetic)), sample_batch(synthetic.data, n_neg=3))
    assert all(np.isfinite(multi)) and multi[-1] < multi[0]
    assert isinstance(build_model("freedom", synthetic.data, {"knn_k": 5}), FREEDOM)


def test_item_graph_is_sparse_and_links_similar_items(synthetic: Synthetic) -> None:
    k, n = 10, synthetic.data.n_items
    model = make(synthetic.data, knn_k=k)
    assert model.mm_adj.nnz <= 2 * k * n  # two modalities, <= k edges each per item
    mixed, parts = frozen_item_graph(model.projector, k, 0.1)
    for name, part in parts.items():
        assert part.nnz <= k * n
        assert np.diff(part.indptr).max() <= k
        # similar features -> same cluster; a random graph would give ~1/4
        assert cluster_purity(part, synthetic.cluster) > 0.9, name
    assert cluster_purity(mixed, synthetic.cluster) > 0.9


def test_missing_image_items_use_their_text_graph(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    mixed, parts = frozen_item_graph(model.projector, 10, 0.1)
    missing = np.flatnonzero(~synthetic.data.features["image"].mask)
    image = parts["image"]
    assert image[missing].nnz == 0 and image[:, missing].nnz == 0
    # renormalised: an item without image gets its text row at full weight, not at 0.9
    diff = mixed[missing] - parts["text"][missing]
    assert abs(diff).max() < 1e-6
    present = np.flatnonzero(synthetic.data.features["image"].mask)[:5]
    expected = 0.1 * image[present] + 0.9 * parts["text"][present]
    assert abs(mixed[present] - expected).max() < 1e-6


def test_a_feature_width_other_than_the_embedding_size_is_refused_when_read() -> None:
    from fusionrec.errors import ConfigError
    from fusionrec.models.base import validate_params

    with pytest.raises(ConfigError, match="feat_embed_dim 64 must equal embedding_size 128"):
        validate_params("freedom", {"embedding_size": 128})
    validate_params("freedom", {"embedding_size": 128, "feat_embed_dim": 128})
    validate_params("freedom", {"embedding_size": 128, "reg_weight": 0.0})  # no such term


def test_modality_weights() -> None:
    np.testing.assert_allclose(modality_weights(["text", "image"], 0.1), [0.9, 0.1])
    np.testing.assert_allclose(modality_weights(["text", "image", "audio"], 0.2), [0.4, 0.2, 0.4])
    np.testing.assert_allclose(modality_weights(["text"], 0.1), [1.0])


def test_degree_sensitive_sampling_prefers_low_degree_edges() -> None:
    weights = np.r_[np.full(500, 1.0), np.full(500, 0.1)]
    counts = np.zeros(1000)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        keep = degree_sensitive_sample(weights, 200, gen)
        assert len(np.unique(keep)) == 200  # without replacement
        counts[keep] += 1
    assert counts[:500].sum() > 5 * counts[500:].sum()


def test_pruned_graph_resampled_each_epoch(synthetic: Synthetic) -> None:
    model = make(synthetic.data, dropout=0.8)
    n_edges = synthetic.data.train_matrix.nnz
    graphs = []
    for epoch in (1, 2):
        model.on_epoch_start(epoch)
        g = model.masked_adj.to_scipy()
        assert g.nnz == 2 * int(n_edges * 0.2)  # both directions of the kept edges
        graphs.append(g)
    assert (graphs[0] != graphs[1]).nnz > 0
    # kept edges are training edges, and scoring uses the full graph
    kept = graphs[0][: model.n_users, model.n_users :]
    assert (kept.multiply(synthetic.data.train_matrix) > 0).sum() == kept.nnz
    assert model.norm_adj.nnz == 2 * n_edges


def test_item_graph_reaches_cold_items(synthetic: Synthetic) -> None:
    """Cold items have no user-item edges: only the content kNN graph gives them the id
    embeddings of similar warm items, so FREEDOM ranks them well. Shuffling the item graph
    (a broken graph) must destroy that."""
    evaluator = synthetic.cold_evaluator()
    model = make(synthetic.data)
    train_quick(model, synthetic, epochs=12)
    good = evaluator.evaluate(model.eval().score)["recall@5"]

    broken = make(synthetic.data)
    perm = np.random.default_rng(0).permutation(synthetic.data.n_items)
    mixed, _ = frozen_item_graph(broken.projector, 10, 0.1)
    broken.mm_adj = SparseGraph(mixed[perm])
    train_quick(broken, synthetic, epochs=12)
    bad = evaluator.evaluate(broken.eval().score)["recall@5"]
    assert good > 0.5 and good > bad + 0.2, (good, bad)
