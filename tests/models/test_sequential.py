"""Sequential models on synthetic orders that only a sequence model can learn:

- a cycle (each user walks items s, s+1, s+2, ...): SASRec must predict the next step far
  better than popularity, and the test step only from a history that holds the validation
  step;
- clusters (each user stays in one cluster of items with similar content): id-free
  MM-SASRec must recommend items withheld from training far above random.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from fusionrec.config import validate_config
from fusionrec.data import ItemFeatures, ModalityFeatures, build_dataset, make_split
from fusionrec.data.split import TEST, TRAIN
from fusionrec.errors import ConfigError
from fusionrec.models import build_model
from fusionrec.tasks.recommender import FittedRecommender
from fusionrec.train.experiment import (
    Prepared,
    random_reference,
    run_seed,
    split_evaluators,
    train_data,
    use_history,
)
from fusionrec.train.trainer import evaluate_model

pytestmark = pytest.mark.usefixtures("one_thread")

N_ITEMS = 40
SMALL = {"embedding_size": 32, "n_layers": 1, "n_heads": 1, "dropout": 0.1,
         "attention_dropout": 0.1, "max_length": 8}  # fmt: skip


def cycle_dataset(n_users: int = 120, length: int = 10, seed: int = 0):
    """User u consumes items s_u, s_u + 1, ... (mod N_ITEMS) one per time step."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        rows += [(f"u{u}", f"i{(start + t) % N_ITEMS:02d}", 100 * u + t) for t in range(length)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return build_dataset("cycle", frame)


def config(model: str, params: dict[str, Any], epochs: int, k: int = 10, repeat: bool = False):
    return validate_config(
        {
            "model": {"name": model, "params": params},
            "train": {
                "epochs": epochs,
                "lr": 0.005,
                "batch_size": 256,
                "eval_every": epochs,
                "metric": f"ndcg@{k}",
                "device": "cpu",
            },
            "evaluate": {"ks": [1, k], "repeat": repeat},
        }
    )


@pytest.fixture(scope="module")
def cycle() -> Prepared:
    ds = cycle_dataset()
    return Prepared(ds, make_split(ds, "leave-one-out"), None)


@pytest.fixture(scope="module")
def sasrec_on_cycle(cycle):
    torch.set_num_threads(1)
    cfg = config("sasrec", SMALL, epochs=40)
    data = train_data(cycle, "sasrec", torch.device("cpu"))
    model = build_model("sasrec", data, cfg.model.params)
    from fusionrec.train.trainer import train_model

    train_model(model, data, split_evaluators(cycle, cfg, torch.device("cpu"))[0], cfg.train,
                progress=False)  # fmt: skip
    return cfg, model


@pytest.mark.parametrize("block", ["paper", "bert"])
def test_sasrec_learns_the_next_item_far_better_than_popularity(cycle, block):
    # repeat: nothing masked, so the test step is found only from a history holding the
    # validation step (run_seed must give the model train + validation before test)
    params = {**SMALL, "block": block}
    sasrec = run_seed(config("sasrec", params, 40, repeat=True), cycle, 1, None, progress=False)
    popular = run_seed(config("most-popular", {}, 1, repeat=True), cycle, 1, None, progress=False)
    assert sasrec["test"]["hit@1"] > 0.8
    assert sasrec["test"]["ndcg@10"] > 0.8 > 4 * popular["test"]["ndcg@10"]


def test_test_is_scored_from_the_history_that_holds_the_validation_item(cycle, sasrec_on_cycle):
    _, model = sasrec_on_cycle
    model.eval()
    # nothing masked: with train and validation masked, the cycle's test item would be the
    # best rankable one even from the training history
    cfg = config("sasrec", SMALL, 1, repeat=True)
    _, test_eval, _ = split_evaluators(cycle, cfg, torch.device("cpu"))
    train_only = evaluate_model(model, test_eval)  # the history it was trained with
    use_history(model, cycle, TEST)
    users = np.arange(cycle.dataset.n_users)
    valid_items = np.empty(len(users), dtype=np.int64)
    valid_users, items = cycle.split.pairs(cycle.dataset, 1)
    valid_items[valid_users] = items
    assert (model.history.recent(users, 1, -1)[:, 0] == valid_items).all()
    with_valid = evaluate_model(model, test_eval)
    assert with_valid["hit@1"] > 0.8 > 4 * train_only["hit@1"]


def test_encode_history_is_the_user_vector_and_drives_recommend_for_items(cycle, sasrec_on_cycle):
    cfg, model = sasrec_on_cycle
    model.eval()
    use_history(model, cycle, TEST)
    for user in (0, 7):
        torch.testing.assert_close(
            model.encode_history(model.history.of(user)), model.user_embeddings()[user]
        )
    data = train_data(cycle, "sasrec", torch.device("cpu"))
    rec = FittedRecommender(model, data, cycle.dataset)
    forward = rec.recommend_for_items(["i10", "i11", "i12"], k=1, exclude_liked=False)
    backward = rec.recommend_for_items(["i12", "i11", "i10"], k=1, exclude_liked=False)
    assert forward["item_id"].tolist() == ["i13"]  # order matters: the step after the last
    assert backward["item_id"].tolist() == ["i11"]


def cluster_world(n_users: int = 160, n_clusters: int = 4, length: int = 6, seed: int = 0):
    """Users stay in one of ``n_clusters`` clusters of items; item text features are their
    cluster's centroid plus noise."""
    rng = np.random.default_rng(seed)
    cluster = np.arange(N_ITEMS) % n_clusters
    rows = []
    for u in range(n_users):
        pool = np.flatnonzero(cluster == u % n_clusters)
        for t, i in enumerate(rng.choice(pool, length, replace=False)):
            rows.append((f"u{u}", f"i{i:02d}", 100 * u + t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i:02d}" for i in range(N_ITEMS)]})
    ds = build_dataset("clusters", frame, items)
    item_cluster = cluster[[int(str(i)[1:]) for i in ds.item_ids]]
    centroids = rng.normal(size=(n_clusters, 8)) * 2
    text = centroids[item_cluster] + 0.3 * rng.normal(size=(N_ITEMS, 8))
    feats = ItemFeatures(N_ITEMS, {"text": ModalityFeatures("text", text, np.ones(N_ITEMS))})
    return ds, feats


def test_id_free_mmsasrec_recommends_items_never_seen_in_training():
    ds, feats = cluster_world()
    split = make_split(ds, "cold-items", cold_fraction=0.4, seed=1)
    prep = Prepared(ds, split, feats)
    cfg = config("mmsasrec", {**SMALL, "id_free": True, "projector_hidden": None}, 15, k=5)
    train_items = set(ds.interactions["item"].to_numpy()[split.rows(TRAIN)].tolist())
    assert not train_items & set(split.cold_items.tolist())
    record = run_seed(cfg, prep, 1, None, progress=False)
    random = random_reference(prep, cfg)
    assert record["test"]["ndcg@5"] > 1.5 * random["ndcg@5"]
    assert record["test"]["hit@1"] > 2 * random["hit@1"]


def test_held_out_items_are_scored_from_the_history_before_them(caplog):
    """A cold-items split holds out items from the middle of histories: each user's held-out
    items are predicted from what came before the first of them, never from later items; a
    leave-one-out split loses nothing (its held-out items are the latest)."""
    from fusionrec.train.experiment import (
        chronological_positions,
        scoring_history,
        warn_unordered_split,
    )

    ds, feats = cluster_world()
    order = chronological_positions(ds)
    users = ds.interactions["user"].to_numpy()
    cold = Prepared(ds, make_split(ds, "cold-items", cold_fraction=0.4, seed=1), feats)
    loo = Prepared(ds, make_split(ds, "leave-one-out"), feats)
    for part in (1, TEST):
        held = cold.split.rows(part)
        first = {u: order[held][users[held] == u].min() for u in np.unique(users[held])}
        history = scoring_history(cold, part)
        parts = (0,) if part == 1 else (0, 1)
        everything = np.flatnonzero(np.isin(cold.split.labels, parts))
        assert len(history.items) < len(everything)  # later items were there to leak
        for user, cut in first.items():
            mine = np.flatnonzero((users == user) & (order < cut))
            kept = set(ds.interactions["item"].to_numpy()[mine].tolist())
            assert set(history.of(user).tolist()) <= kept
        whole = np.flatnonzero(np.isin(loo.split.labels, (0,) if part == 1 else (0, 1)))
        assert len(scoring_history(loo, part).items) == len(whole)
    caplog.clear()  # the splits' own info lines
    with caplog.at_level(logging.WARNING):
        warn_unordered_split("mmsasrec", ds, loo.split)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        warn_unordered_split("mmsasrec", ds, cold.split)
    assert "predicted from the history before the first of them" in caplog.text


def test_early_stopping_scores_validation_from_the_cut_history(monkeypatch):
    """On a split that holds out items from the middle of histories, the validation that
    early stopping reads is scored from the history before each user's first validation
    item, as test is from its own: never from training interactions that came later."""
    import fusionrec.train.experiment as experiment
    from fusionrec.train.experiment import scoring_history

    ds, feats = cluster_world()
    prep = Prepared(ds, make_split(ds, "cold-items", cold_fraction=0.4, seed=1), feats)
    seen = {}

    def spy(model, data, valid_eval, cfg, **kwargs):
        seen["history"] = model.history
        return real(model, data, valid_eval, cfg, **kwargs)

    real = experiment.train_model
    monkeypatch.setattr(experiment, "train_model", spy)
    cfg = config("mmsasrec", {**SMALL, "id_free": True, "projector_hidden": None}, 1, k=5)
    run_seed(cfg, prep, 1, None, progress=False, evaluate_test=False)
    cut = scoring_history(prep, 1)
    assert len(seen["history"].items) == len(cut.items) < len(prep.split.rows(TRAIN))
    np.testing.assert_array_equal(seen["history"].items, cut.items)


def test_id_free_mmsasrec_has_no_item_id_parameters():
    ds, feats = cluster_world(n_users=8)
    prep = Prepared(ds, make_split(ds, "leave-one-out"), feats)
    data = train_data(prep, "mmsasrec", torch.device("cpu"))
    free = build_model("mmsasrec", data, {**SMALL, "id_free": True})
    with_ids = build_model("mmsasrec", data, SMALL)
    assert not any(p.shape[0] == N_ITEMS for p in free.parameters())
    assert any(p.shape[0] == N_ITEMS for p in with_ids.parameters())


@pytest.mark.parametrize("gate_init", [-3.0, 0.0])
def test_mmsasrec_content_starts_at_the_gate_it_is_given(gate_init):
    """e_i = M_i + sigmoid(g) c_i with g = gate_init at the start (the default, -3, lets the
    id embeddings learn before the content takes weight)."""
    ds, feats = cluster_world(n_users=8)
    prep = Prepared(ds, make_split(ds, "leave-one-out"), feats)
    data = train_data(prep, "mmsasrec", torch.device("cpu"))
    model = build_model("mmsasrec", data, {**SMALL, "gate_init": gate_init})
    with torch.no_grad():
        content = model.content_vectors()
        expected = model.items.weight + torch.sigmoid(torch.tensor(gate_init)) * content
        assert torch.allclose(model.item_vectors(), expected)
        assert content.abs().sum() > 0  # the content part is not trivially zero


def test_mmsasrec_count_gate_gives_rarely_seen_items_more_content():
    """``gate: by_count``: item i's content weight is sigmoid(g + a z_i), z_i its standardised
    log(1 + training count); with the slope a below zero the rarest item's content weighs more
    than the most popular one's, and training moves the slope."""
    ds, feats = cluster_world(n_users=8)
    prep = Prepared(ds, make_split(ds, "leave-one-out"), feats)
    data = train_data(prep, "mmsasrec", torch.device("cpu"))
    counts = data.item_popularity
    assert counts.min() < counts.max()  # the world has rare and popular items
    model = build_model("mmsasrec", data, {**SMALL, "gate": "by_count", "count_slope_init": -2})
    z = (np.log1p(counts) - np.log1p(counts).mean()) / np.log1p(counts).std(ddof=1)
    with torch.no_grad():
        weights = model.content_weights()
        expected = torch.sigmoid(torch.tensor(-3.0 - 2.0 * z, dtype=torch.float32))
        assert torch.allclose(weights[:, 0], expected, atol=1e-6)
        assert weights[counts.argmin(), 0] > 2 * weights[counts.argmax(), 0]
        assert torch.allclose(
            model.item_vectors(), model.items.weight + weights * model.content_vectors()
        )
    model.calculate_loss({"positions": torch.from_numpy(model.train_positions()[:4])}).backward()
    assert model.count_slope.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="needs content 'add'"):
        build_model("mmsasrec", data, {**SMALL, "gate": "by_count", "id_free": True})


def test_mmsasrec_content_prior_regularises_ids_without_entering_scores():
    """``content: prior``: items are scored by their id embeddings alone, and the loss adds
    prior_weight * mean |M_i - c_i|^2, whose gradient reaches both the ids and the content
    projector; at weight 0 the loss is SASRec's own."""
    ds, feats = cluster_world(n_users=8)
    prep = Prepared(ds, make_split(ds, "leave-one-out"), feats)
    data = train_data(prep, "mmsasrec", torch.device("cpu"))
    torch.manual_seed(0)
    model = build_model("mmsasrec", data, {**SMALL, "content": "prior", "prior_weight": 0.5})
    assert not hasattr(model, "gate")
    with torch.no_grad():
        assert torch.equal(model.item_vectors(), model.items.weight)
        gap = (model.items.weight - model.content_vectors()).pow(2).sum(1).mean()
    model.eval()  # no dropout: the two losses below see the same network
    batch = {"positions": torch.from_numpy(model.train_positions()[:4])}
    plain = super(type(model), model).calculate_loss(batch)
    total = model.calculate_loss(batch)
    assert torch.allclose(total, plain + 0.5 * gap)
    total.backward()
    assert model.items.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.projector.parameters())
    with pytest.raises(ConfigError, match="needs id_free false"):
        build_model("mmsasrec", data, {**SMALL, "content": "prior", "id_free": True})


def test_gru4rec_window_outputs_are_its_prefix_encodings(cycle):
    """Window training reads a window once; the state after each item must be what encoding
    that item's prefix alone gives (the per-prefix training, RecBole's), so the two train on
    the same predictions."""
    torch.manual_seed(0)
    data = train_data(cycle, "gru4rec", torch.device("cpu"))
    model = build_model(
        "gru4rec", data, {"embedding_size": 16, "hidden_size": 24, "max_length": 12}
    )
    model.eval()
    seqs = data.sequences
    ends = model.train_positions()[:5]
    starts = seqs.indptr[seqs.owners[ends]]
    windows = torch.from_numpy(seqs.windows(ends, starts, 12, model.pad))
    assert (windows == model.pad).any()  # histories shorter than the window: padded
    table = model._table()
    with torch.no_grad():
        every = model.encode_positions(windows, table)
        for b, window in enumerate(windows):
            for t in range(12):
                if window[t] == model.pad:
                    continue
                prefix = torch.full((1, 12), model.pad)
                prefix[0, 12 - (t + 1) :] = window[: t + 1]
                alone = model.encode(prefix, table)[0]
                torch.testing.assert_close(every[b, t], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", ["paper", "bert"])
def test_sasrec_positions_see_no_later_item(cycle, block):
    """Every position is trained to predict the next item, so its output may depend only on
    the items up to it: changing the later items of a window leaves the earlier outputs."""
    torch.manual_seed(0)
    data = train_data(cycle, "sasrec", torch.device("cpu"))
    model = build_model("sasrec", data, {**SMALL, "block": block}).eval()
    table = model._table()
    window = torch.tensor([[model.pad, model.pad, 3, 4, 5, 6, 7, 8]])
    later = window.clone()
    later[0, 5:] = torch.tensor([20, 30, 39])
    with torch.no_grad():
        a, b = model.encode_positions(window, table), model.encode_positions(later, table)
    torch.testing.assert_close(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])


def test_window_stride_one_trains_on_exactly_the_prefix_examples(cycle):
    """``window_stride: 1`` scores each window's last position only: every next-item example
    once, from its own prefix, which is ``training: prefix``; a stride between overlaps the
    windows and still scores every example once."""
    torch.manual_seed(0)
    data = train_data(cycle, "sasrec", torch.device("cpu"))

    def loss(**params: Any) -> torch.Tensor:
        torch.manual_seed(0)  # the same weights for every variant
        model = build_model("sasrec", data, {**SMALL, **params}).eval()
        positions = torch.from_numpy(model.train_positions())
        seqs = model.train_sequences
        batch = {"positions": positions, "pos_items": torch.from_numpy(seqs.items[positions])}
        with torch.no_grad():
            return model.calculate_loss(batch), len(positions)

    prefix, n_prefix = loss(training="prefix")
    one, n_one = loss(window_stride=1)
    assert n_one == n_prefix
    torch.testing.assert_close(one, prefix)
    window, n_window = loss()
    assert n_window < n_prefix and not torch.allclose(window, prefix)
    three, n_three = loss(window_stride=3)  # 3 targets per window, each scored once
    assert n_window < n_three < n_prefix
    with pytest.raises(ConfigError, match="window_stride 9 is above max_length 8"):
        build_model("sasrec", data, {**SMALL, "window_stride": 9})
    with pytest.raises(ConfigError, match="window_stride is for training 'window'"):
        build_model("sasrec", data, {**SMALL, "window_stride": 2, "training": "prefix"})
