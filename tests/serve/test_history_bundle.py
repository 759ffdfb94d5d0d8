"""A sequential model's bundle encodes a new user's ordered history at request time, with the
model's own encoder exported, and answers as the fitted model does; other bundles refuse."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from fusionrec.errors import ModelError
from fusionrec.serve.recommender import load_bundle

N_ITEMS = 30
LENGTH = 6  # the model's max_length: longer histories are cut to their most recent items


@pytest.fixture(scope="module")
def sasrec_run(tmp_path_factory) -> Path:
    """SASRec on cycles: user u walks items s, s+1, s+2, ... (mod N_ITEMS), so the next
    item depends on the order of the history, not only on its set."""
    import fusionrec

    folder = tmp_path_factory.mktemp("history")
    rng = np.random.default_rng(0)
    rows = []
    for u in range(150):
        start = int(rng.integers(N_ITEMS))
        rows += [(f"u{u}", f"i{(start + t) % N_ITEMS}", 100 * u + t) for t in range(10)]
    path = folder / "interactions.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    fusionrec.fit(
        {"name": "cycles", "path": str(path)},
        model="sasrec",
        split="leave-one-out",
        train={"epochs": 40, "lr": 0.005, "batch_size": 256, "patience": 40, "threads": 1},
        overrides=["evaluate.ks=[5,10]", "train.metric=ndcg@10"],
        run_dir=folder / "run",
        embedding_size=32,
        n_layers=1,
        n_heads=1,
        dropout=0.1,
        attention_dropout=0.1,
        max_length=LENGTH,
    )
    return folder / "run"


@pytest.fixture(scope="module")
def sasrec_bundle(sasrec_run, tmp_path_factory) -> Path:
    from fusionrec.serve.bundle import export_bundle

    out = tmp_path_factory.mktemp("history-bundle") / "b"
    return export_bundle(sasrec_run, out, search=False, sentiment=None)


HISTORIES = [
    ["i10", "i11", "i12"],
    ["i12", "i11", "i10"],
    [f"i{i}" for i in range(3, 3 + LENGTH + 4)],  # longer than max_length
]


def test_the_bundle_encodes_a_history_as_the_fitted_model_does(sasrec_run, sasrec_bundle):
    import fusionrec

    fitted, served = fusionrec.load(sasrec_run), load_bundle(sasrec_bundle)
    assert served.manifest["history"]["max_length"] == LENGTH
    for history in HISTORIES:
        np.testing.assert_allclose(
            served.history_embedding(history), fitted.history_embedding(history), atol=1e-5
        )
        ours = fitted.recommend_for_items(history, k=5)
        theirs = served.recommend_for_items(history, k=5)
        assert theirs["item_id"].tolist() == ours["item_id"].tolist()
        np.testing.assert_allclose(theirs["score"], ours["score"], atol=1e-4)
    # only the most recent max_length items count
    long, recent = HISTORIES[2], HISTORIES[2][-LENGTH:]
    np.testing.assert_allclose(
        served.history_embedding(long), served.history_embedding(recent), atol=1e-6
    )


def test_order_matters_to_the_served_model(sasrec_bundle):
    served = load_bundle(sasrec_bundle)
    # the same two items, read in either order: the walk continues from the last one
    assert served.recommend_for_items(["i5", "i20"], k=1)["item_id"].tolist() == ["i21"]
    assert served.recommend_for_items(["i20", "i5"], k=1)["item_id"].tolist() == ["i6"]
    assert served.recommend_for_items(["i10", "i11", "i12"], k=1)["item_id"].tolist() == ["i13"]


def test_the_served_api_reads_liked_items_as_a_history(sasrec_bundle, serve):
    served = load_bundle(sasrec_bundle)
    with serve(sasrec_bundle) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/metadata").json()["history_encoder"] is True
        body = {"liked_item_ids": ["i20", "i21", "i22"], "k": 4}
        items = client.post("/recommendations", json=body).json()["items"]
    expected = served.recommend_for_items(["i20", "i21", "i22"], k=4)
    assert [h["item_id"] for h in items] == expected["item_id"].tolist()
    assert items[0]["item_id"] == "i23"


def test_a_model_without_order_says_so(bundle):
    served = load_bundle(bundle)
    assert served.manifest["history"] is None
    with pytest.raises(ModelError, match="does not encode ordered histories"):
        served.history_embedding(["i1", "i2"])


def test_recommendations_leave_out_the_history_the_user_vector_encodes(sasrec_run, sasrec_bundle):
    """The user vector reads training + validation items, so both are masked (the evaluator
    masks both when it scores test): k reaches past every unseen item, so an unmasked
    validation item would be listed."""
    import fusionrec
    from fusionrec.data.split import VALID

    fitted = fusionrec.load(sasrec_run)
    users, items = fitted.split.pairs(fitted.dataset, VALID)
    valid = set(zip(fitted.user_ids[users].tolist(), fitted.item_ids[items].tolist(), strict=True))
    for rec in (fitted, load_bundle(sasrec_bundle)):
        top = rec.recommend(fitted.user_ids[users], k=N_ITEMS - 8)
        listed = set(zip(top["user_id"], top["item_id"], strict=True))
        assert not listed & valid
        assert len(top) == len(users) * (N_ITEMS - 9)  # 8 training items + 1 validation item


def test_one_id_is_a_history_of_one(sasrec_run):
    import fusionrec

    fitted = fusionrec.load(sasrec_run)
    np.testing.assert_array_equal(
        fitted.history_embedding("i12"), fitted.history_embedding(["i12"])
    )
