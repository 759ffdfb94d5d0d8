"""BM3: contract without negatives, missing modalities, learning to rank, and the modality
losses actually aligning content with the collaborative item embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_raw_rows
from synthetic_mm import Synthetic, check_scores, loss_trajectory, sample_batch, text_only

from fusionrec.config import TrainConfig
from fusionrec.models.base import TrainData, build_model
from fusionrec.models.bm3 import BM3, BM3Params
from fusionrec.train.trainer import train_model

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> BM3:
    torch.manual_seed(0)
    return BM3(data, BM3Params(**params))


def positives_only(data: TrainData, **kw) -> dict:
    batch = sample_batch(data, **kw)
    del batch["neg_items"]
    return batch


def test_scores_and_loss_without_negatives(synthetic: Synthetic) -> None:
    model = make(synthetic.data, n_layers=2)
    assert BM3.needs_negatives is False
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, positives_only(synthetic.data))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]
    single = loss_trajectory(make(text_only(synthetic)), positives_only(synthetic.data), steps=10)
    assert all(np.isfinite(single)) and single[-1] < single[0]
    assert isinstance(build_model("bm3", synthetic.data, {"n_layers": 1}), BM3)


def test_missing_modality_rows_do_not_count(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    missing = np.flatnonzero(~synthetic.data.features["image"].mask)
    batch = positives_only(synthetic.data, size=400)
    assert np.isin(batch["pos_items"].numpy(), missing).any()
    torch.manual_seed(1)
    before = model.calculate_loss(batch)
    assert spoil_missing_raw_rows(model.projector.present["image"]) == len(missing)
    torch.manual_seed(1)
    torch.testing.assert_close(model.calculate_loss(batch), before)


def _train(model: BM3, syn: Synthetic, epochs: int) -> None:
    cfg = TrainConfig(epochs=epochs, batch_size=256, lr=0.01, patience=epochs, seed=0,
                      metric="recall@10")  # fmt: skip
    train_model(model, syn.data, syn.warm_evaluator(), cfg, progress=False)


def test_learns_to_rank_and_aligns_content(synthetic: Synthetic) -> None:
    """Trained with no negatives, BM3 must beat popularity on held-out interactions, and its
    modality terms must pull predictor(content) towards the item embeddings: with
    cl_weight=0 (the feature broken off) that alignment stays near chance."""
    evaluator = synthetic.warm_evaluator()
    pop = torch.from_numpy(synthetic.data.item_popularity).float()
    popular = evaluator.evaluate(lambda u: pop.expand(len(u), -1))["recall@10"]

    def alignment(model: BM3) -> float:
        model.eval()
        items = torch.from_numpy(np.flatnonzero(synthetic.data.item_popularity > 0))
        with torch.no_grad():
            _, i_all = model.forward()
            feat = model.projector.proj["text"](model.projector.raw("text"))
            cos = torch.cosine_similarity(model.predictor(feat[items]), i_all[items], dim=-1)
        return float(cos.mean())

    model = make(synthetic.data)
    _train(model, synthetic, epochs=15)
    recall = evaluator.evaluate(model.eval().score)["recall@10"]
    assert recall > popular + 0.1, (recall, popular)

    control = make(synthetic.data, cl_weight=0.0)
    _train(control, synthetic, epochs=15)
    assert alignment(model) > 0.5 and alignment(model) > alignment(control) + 0.3
