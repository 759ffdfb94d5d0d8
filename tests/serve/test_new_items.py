"""Items added after training (``add_items``) are scored through their content neighbours:
recommended, compared, folded in and served like the trained ones, the trained recommender
left as it was; histories of trained items only; bad tables refused by name."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

import fusionrec
from fusionrec.cli import app
from fusionrec.config import read_saved_config
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.serve.bundle import export_bundle, read_manifest
from fusionrec.serve.recommender import load_bundle
from test_api import ROMANCE, SPACE


@pytest.fixture(scope="module")
def items_of(trained_run):
    """The trained catalogue's item table, as fusionrec read it."""
    return fusionrec.load(trained_run).dataset.items


def new_items(items: pd.DataFrame) -> pd.DataFrame:
    """A copy of trained item i3's text under a new id, and a space and a romance film."""
    return pd.DataFrame(
        {
            "item_id": ["n-copy", "n-space", "n-love"],
            "title": [items["title"][3], "Star voyage", "Love in Paris"],
            "plot": [items["plot"][3], SPACE, ROMANCE],
        }
    )


@pytest.fixture(scope="module")
def added(trained_run, items_of):
    rec = fusionrec.load(trained_run)
    return rec, rec.add_items(new_items(items_of), k=1)


@pytest.fixture(scope="module")
def id_only_runs(trained_run, sasrec_run, tmp_path_factory):
    """ItemKNN and EASE (item-item) and SASRec (sequential) on the same catalogue, without features:
    new items are placed by the catalogue's text and posters, encoded into the cache."""
    folder = tmp_path_factory.mktemp("id-only")
    patch = pytest.MonkeyPatch()
    patch.setenv("FUSIONREC_CACHE", str(folder / "cache"))
    dataset = read_saved_config(trained_run / "config.yaml").dataset.model_dump()
    for model in ("itemknn", "ease"):  # W sparse, W dense
        fusionrec.fit(
            dataset, model=model, overrides=["evaluate.ks=[5,10]"], run_dir=folder / model
        )
    yield {"itemknn": folder / "itemknn", "ease": folder / "ease", "sasrec": sasrec_run}
    patch.undo()


def test_a_copy_of_a_trained_item_scores_as_that_item(added):
    rec, extended = added
    assert len(rec.item_ids) == 40 and rec.added_item_ids.size == 0  # the trained one is kept
    assert extended.added_item_ids.tolist() == ["n-copy", "n-space", "n-love"]
    users = extended.user_ids[:12]
    both = extended.recommend(users, k=2, exclude_seen=False, only=["n-copy", "i3"])
    scores = both.pivot(index="user_id", columns="item_id", values="score")
    np.testing.assert_allclose(scores["n-copy"], scores["i3"], rtol=1e-5)
    assert scores["i3"].std() > 1e-3  # users differ on it: equal scores are no accident
    items, _ = extended.scoring_vectors()
    np.testing.assert_allclose(items[40], items[3], rtol=1e-6)
    fused = extended.item_embeddings("fused")
    np.testing.assert_allclose(fused[40], fused[3], rtol=1e-6)
    # its text is encoded; its image was read pre-computed for the trained items only
    text, text_mask = extended.view_vectors("text")
    _, image_mask = extended.view_vectors("image")
    np.testing.assert_allclose(text[40], text[3], atol=1e-5)
    assert text_mask[40:].all() and not image_mask[40:].any()
    # trained items answer as before
    a, b = (
        rec.recommend(users, k=5),
        extended.recommend(users, k=5, exclude=extended.added_item_ids),
    )
    assert a["item_id"].tolist() == b["item_id"].tolist()


def test_new_items_go_to_the_users_who_like_their_kind(trained_run, items_of):
    extended = fusionrec.load(trained_run).add_items(new_items(items_of), k=5)
    space_fans = [u for u in extended.user_ids if int(u[1:]) % 2 == 0]  # they rate i0..i19
    love_fans = [u for u in extended.user_ids if int(u[1:]) % 2 == 1]
    top = extended.recommend(extended.user_ids, k=1, only=["n-space", "n-love"])
    first = dict(zip(top["user_id"], top["item_id"], strict=True))
    assert all(first[u] == "n-space" for u in space_fans)
    assert all(first[u] == "n-love" for u in love_fans)
    similar = extended.similar_items("n-space", k=5, by="text")["item_id"].tolist()
    assert all(int(i[1:]) < 20 for i in similar)  # the space films
    liked = extended.recommend_for_items(["n-space"], k=5)["item_id"].tolist()
    assert sum(i.startswith("i") and int(i[1:]) < 20 for i in liked) >= 4
    with pytest.raises(ModelError, match="'n-space' was added after training"):
        extended.explain("u0", "n-space")
    assert extended.explain("u0", "i3").score == pytest.approx(
        fusionrec.load(trained_run).explain("u0", "i3").score
    )


@pytest.mark.parametrize("model", ["itemknn", "ease"])  # W sparse, W dense
def test_an_item_item_model_carries_its_weights_over(model, id_only_runs, items_of):
    rec = fusionrec.load(id_only_runs[model])
    extended = rec.add_items(new_items(items_of), k=1)
    w, w2 = rec.item_item_weights(), extended.item_item_weights()
    w, w2 = (m.toarray() if sp.issparse(m) else np.asarray(m) for m in (w, w2))
    assert w2.shape == (43, 43)
    np.testing.assert_allclose(w2[:40, :40], w)
    np.testing.assert_allclose(w2[:40, 40], w[:, 3], rtol=1e-6)
    np.testing.assert_allclose(w2[40, :40], w[3], rtol=1e-6)
    a = extended.recommend_for_items(["n-copy"], k=6, exclude=["i3"])
    b = extended.recommend_for_items(["i3"], k=6, exclude=["n-copy"])
    assert a["item_id"].tolist() == b["item_id"].tolist()
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5)


def test_a_sequential_model_recommends_new_items_but_reads_trained_histories(
    id_only_runs, items_of, tmp_path
):
    extended = fusionrec.load(id_only_runs["sasrec"]).add_items(new_items(items_of), k=1)
    top = extended.recommend("u0", k=3, exclude_seen=False, only=["n-copy", "i3"])
    assert top["score"].iloc[0] == pytest.approx(top["score"].iloc[1], rel=1e-5)
    with pytest.raises(ModelError, match="added after training can be recommended but not read"):
        extended.recommend_for_items(["i1", "n-space"], k=3)
    extended.recommend_for_items(["i1", "i2"], k=3)  # trained items still fold in
    bundle = export_bundle(
        id_only_runs["sasrec"],
        tmp_path / "b",
        search=False,
        sentiment=None,
        new_items=new_items(items_of),
        neighbours=1,
    )
    served = load_bundle(bundle)
    with pytest.raises(ModelError, match="added after training can be recommended but not read"):
        served.recommend_for_items(["i1", "n-space"], k=3)
    a = served.recommend_for_items(["i1", "i2"], k=3)
    b = extended.recommend_for_items(["i1", "i2"], k=3)
    assert a["item_id"].tolist() == b["item_id"].tolist()


def test_a_bundle_serves_the_added_items_as_the_run_does(trained_run, items_of, tmp_path, serve):
    table = tmp_path / "new.csv"
    new_items(items_of).to_csv(table, index=False)
    bundle = export_bundle(
        trained_run, tmp_path / "b", search=False, sentiment=None, new_items=table, neighbours=3
    )
    manifest = read_manifest(bundle)
    assert manifest["added_items"] == 3 and manifest["n_items"] == 43
    served = load_bundle(bundle)
    fitted = fusionrec.load(trained_run).add_items(table, k=3)
    users = list(fitted.user_ids[:10])
    for rules in ({}, {"only": ["n-space", "n-love", "i1", "i30"]}):
        a, b = served.recommend(users, k=3, **rules), fitted.recommend(users, k=3, **rules)
        assert a["item_id"].tolist() == b["item_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-4, atol=1e-5)
    with serve(bundle) as url:
        assert httpx.get(f"{url}/metadata").json()["added_items"] == 3
        item = httpx.get(f"{url}/items/n-space").json()
        assert item["title"] == "Star voyage"
        got = httpx.get(
            f"{url}/users/u0/recommendations", params={"k": 1, "only": ["n-space", "n-love"]}
        )
        assert got.status_code == 200, got.text
        assert [r["item_id"] for r in got.json()["items"]] == ["n-space"]


def test_the_command_line_adds_items_to_recommend_and_export(trained_run, items_of, tmp_path):
    table = tmp_path / "new.csv"
    new_items(items_of).to_csv(table, index=False)
    runner = CliRunner()
    args = ["recommend", str(trained_run), "--user", "u1", "--add-items", str(table)]
    out = runner.invoke(
        app, [*args, "--only", "n-love,n-space", "-k", "1", "--explain"], env={"COLUMNS": "300"}
    )
    assert out.exit_code == 0, out.output
    assert "n-love" in out.output and "added since training" in out.output
    result = runner.invoke(
        app,
        ["export", str(trained_run), "-o", str(tmp_path / "b"), "--add-items", str(table),
         "--no-search", "--sentiment", "none"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "+ 3 added items" in result.output


def test_bad_new_item_tables_are_refused_by_name(added, items_of, tmp_path):
    rec, extended = added
    table = new_items(items_of)
    with pytest.raises(DataError, match=r"already in the catalogue: 'i3'"):
        rec.add_items(table.assign(item_id=["i3", "n-space", "n-love"]))
    with pytest.raises(DataError, match=r"given twice: 'n-x'"):
        rec.add_items(table.assign(item_id=["n-x", "n-x", "n-love"]))
    with pytest.raises(DataError, match="no 'item_id' column"):
        rec.add_items(table.rename(columns={"item_id": "id"}))
    with pytest.raises(DataError, match=r"without any text content to place them by: 'n-love'"):
        rec.add_items(table.assign(title=["a", "b", None], plot=["a", "b", None]))
    with pytest.raises(ConfigError, match="in one add_items call"):
        extended.add_items(table.assign(item_id=["m1", "m2", "m3"]))
    path = tmp_path / "new.csv"
    table.assign(image_path=["posters/x.jpg", None, None]).to_csv(path, index=False)
    read = rec.add_items(path, k=1).dataset.items
    assert read["image_path"].iloc[40] == str(tmp_path / "posters" / "x.jpg")
