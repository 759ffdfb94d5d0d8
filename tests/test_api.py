"""The Python API: fit / load, recommendations in external ids, similar items, new users from
liked items or a sentence, and explanations. A toy catalogue with two communities (even
users like items i0-i19, "space" films; odd users like i20-i39, "romance" films) gives every
check a known right answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import fusionrec
from fusionrec.data import build_dataset
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.data.split import TRAIN, VALID
from fusionrec.errors import ConfigError, DataError, ModelError
from fusionrec.models.base import Params, Recommender, TrainData
from toy_data import write_toy_dataset

N_ITEMS = 40
SPACE = "space adventure with robots and astronauts exploring a distant galaxy"
ROMANCE = "romantic comedy about a wedding, love and a family in Paris"


def write_catalogue(folder: Path) -> dict:
    """Interactions, an item table with titles and texts, and pre-computed image vectors."""
    inter = write_toy_dataset(folder)
    ids = [f"i{i}" for i in range(N_ITEMS)]
    space = np.arange(N_ITEMS) < N_ITEMS // 2
    pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"{'Star' if s else 'Love'} story {i}" for i, s in enumerate(space)],
            "plot": [SPACE if s else ROMANCE for s in space],
        }
    ).to_csv(folder / "items.csv", index=False)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(N_ITEMS, 8)).astype(np.float32) + 3 * space[:, None]
    np.savez(folder / "image.npz", features=image, item_id=np.array(ids))
    return {
        "name": str(inter),
        "items_path": str(folder / "items.csv"),
        "text_fields": ["title", "plot"],
    }


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """MGCN over text (MiniLM) and pre-computed image vectors, trained briefly."""
    folder = tmp_path_factory.mktemp("api")
    data = folder / "data"
    features = {
        "modalities": ["text", "image"],
        "precomputed": {"image": str(data / "image.npz")},
        "cache_dir": str(folder / "cache"),
    }
    rec = fusionrec.fit(
        write_catalogue(data),
        model="mgcn",
        features=features,
        train={
            "epochs": 20,
            "lr": 0.03,
            "batch_size": 128,
            "patience": 20,
            "metric": "recall@10",
            "threads": 1,
        },
        overrides=["evaluate.ks=[5,10]"],
        run_dir=folder / "run",
        embedding_size=16,
        knn_k=5,
    )
    return rec, folder / "run"


def test_fit_refuses_to_replace_a_finished_run_unless_told(fitted):
    from fusionrec.errors import FusionrecError

    rec, run = fitted
    before = (run / "results.json").read_bytes()
    with pytest.raises(FusionrecError, match="overwrite"):
        fusionrec.fit(rec.dataset.name, model="most-popular", run_dir=run)
    assert (run / "results.json").read_bytes() == before


def space(ids) -> np.ndarray:
    return np.array([int(str(i)[1:]) < N_ITEMS // 2 for i in ids])


def test_fit_writes_a_run_and_load_gives_identical_recommendations(fitted):
    rec, run = fitted
    assert (run / "results.json").exists() and (run / "seed-2026" / "best.pt").exists()
    users = list(rec.user_ids)
    first = rec.recommend(users, k=5)
    again = fusionrec.load(run).recommend(users, k=5)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == ["user_id", "rank", "item_id", "score", "title"]
    assert len(first) == 5 * len(users) and first["rank"].tolist()[:5] == [1, 2, 3, 4, 5]
    # even users like the space half: the trained model says so in external ids
    even = first["user_id"].map(lambda u: int(u[1:]) % 2 == 0).to_numpy()
    assert (space(first["item_id"]) == even).mean() > 0.9


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_run_trained_on_a_gpu_loads_and_rescores_on_a_cpu_machine(fitted, tmp_path):
    """Trained on a GPU box, inspected on a laptop: the saved train.device 'cuda' must not
    stop loading, evaluation or export (it did: 'no usable CUDA device')."""
    import shutil

    import yaml

    from fusionrec.train.reload import rescore_run

    rec, run = fitted
    copy = tmp_path / "gpu-run"
    shutil.copytree(run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["train"]["device"] = "cuda"
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    users = list(rec.user_ids)[:4]
    pd.testing.assert_frame_equal(
        fusionrec.load(copy).recommend(users, k=5), rec.recommend(users, k=5)
    )
    recorded = json.loads((run / "results.json").read_text())["per_seed"][0]["test"]
    assert rescore_run(copy)[2026]["recall@10"] == pytest.approx(recorded["recall@10"], abs=1e-6)


def test_exclude_seen_masks_exactly_the_training_and_validation_items(fitted):
    """What the evaluator masks when it scores test: the items the user is known to have."""
    rec, _ = fitted
    users, items = (
        rec.split.matrix(rec.dataset, TRAIN) + rec.split.matrix(rec.dataset, VALID)
    ).nonzero()
    seen = set(zip(rec.user_ids[users], rec.item_ids[items], strict=True))
    everything = rec.recommend(list(rec.user_ids), k=N_ITEMS)
    pairs = set(zip(everything["user_id"], everything["item_id"], strict=True))
    assert not pairs & seen
    assert len(pairs) == len(rec.user_ids) * N_ITEMS - len(seen)  # nothing else masked
    unmasked = rec.recommend(list(rec.user_ids), k=N_ITEMS, exclude_seen=False)
    assert seen <= set(zip(unmasked["user_id"], unmasked["item_id"], strict=True))


def test_unknown_ids_are_named(fitted):
    rec, _ = fitted
    with pytest.raises(DataError, match=r"unknown user ids: 'nobody', 'x1'"):
        rec.recommend(["u0", "nobody", "x1"])
    with pytest.raises(DataError, match=r"and 5 more"):
        rec.recommend([f"ghost{i}" for i in range(15)])
    with pytest.raises(DataError, match=r"unknown item ids: 'i99'"):
        rec.similar_items("i99")
    with pytest.raises(DataError, match=r"'i77'"):
        rec.recommend_for_items(["i1", "i77"])


def test_wrong_kinds_of_argument_are_named(fitted):
    rec, _ = fitted
    for k in (2.5, "3", 0, True):
        with pytest.raises(ConfigError, match=r"k must be a whole number of at least 1"):
            rec.recommend("u0", k=k)
    with pytest.raises(ConfigError, match=r"the description must be a string, got int"):
        rec.recommend_for_text(123)
    one = rec.recommend_for_items("i1", k=3)  # one liked item, as recommend takes one user
    assert one["item_id"].tolist() == rec.recommend_for_items(["i1"], k=3)["item_id"].tolist()
    with pytest.raises(ConfigError, match="give at least one liked item id"):
        rec.recommend_for_items([])
    assert rec.similar_items("i3", k=4)["item_id"].tolist() == (
        rec.similar_items("i3", k=4, by=rec.explain_view())["item_id"].tolist()
    )


def test_similar_items_in_every_view(fitted):
    rec, _ = fitted
    assert rec.views() == ["behaviour", "text", "image", "fused"]
    for view in rec.views():
        similar = rec.similar_items("i3", k=5, by=view)
        assert "i3" not in set(similar["item_id"]) and len(similar) == 5
        assert space(similar["item_id"]).all(), view
        assert rec.item_embeddings(view).shape[0] == N_ITEMS
    assert not np.allclose(rec.item_embeddings("behaviour"), rec.item_embeddings("fused"))
    with pytest.raises(ModelError, match="available views: behaviour, text, image, fused"):
        rec.similar_items("i3", by="audio")
    assert rec.user_embeddings().shape == (len(rec.user_ids), 16)


def test_fold_in_ranks_a_users_held_out_items_above_random(fitted):
    rec, _ = fitted
    held_out = rec.dataset.matrix() - rec.train_matrix
    for method in ("mean", "least-squares", "item-similarity"):
        hits = []
        for u in range(len(rec.user_ids)):
            liked = rec.item_ids[rec.train_matrix[u].indices]
            top = rec.recommend_for_items(liked, k=10, method=method)
            assert not set(top["item_id"]) & set(liked)
            truth = set(rec.item_ids[held_out[u].indices])
            hits.append(len(truth & set(top["item_id"])) / max(1, len(truth)))
        # a random 10 of the ~32 unseen items finds ~31% of the held-out ones
        assert np.mean(hits) > 0.55, method


def test_recommend_for_text_returns_items_that_match_the_description(fitted):
    rec, _ = fitted
    robots = rec.recommend_for_text("robots exploring outer space", k=8)
    love = rec.recommend_for_text("a love story with a wedding", k=8)
    assert space(robots["item_id"]).all() and not space(love["item_id"]).any()


def test_explain_on_a_fused_model(fitted):
    rec, _ = fitted
    item = rec.recommend("u0", k=1)["item_id"][0]
    why = rec.explain("u0", item, n=3)
    assert set(why.parts) == {"behaviour", "text", "image"}
    assert sum(why.parts.values()) == pytest.approx(why.score, rel=1e-4, abs=1e-6)
    trained = set(rec.item_ids[rec.train_matrix[0].indices])
    assert len(why.because) == 3 and set(why.because["item_id"]) <= trained


class AdditiveParams(Params):
    dim: int = 4


class Additive(Recommender):
    """score = behaviour part + text part + image part; a part is zero where its modality is
    missing, so the true split of every score is known."""

    name = "additive-test"
    ParamsSchema = AdditiveParams
    requires_features = True

    def __init__(self, data: TrainData, params: AdditiveParams) -> None:
        super().__init__(data, params)
        gen = torch.Generator().manual_seed(0)
        self.users = torch.nn.Parameter(torch.randn(data.n_users, 3, params.dim, generator=gen))
        self.items = torch.nn.Parameter(torch.randn(data.n_items, params.dim, generator=gen))
        self.proj = torch.nn.ModuleDict()
        for mod in data.features:
            self.register_buffer(f"x_{mod.name}", torch.from_numpy(mod.matrix), persistent=False)
            self.register_buffer(f"m_{mod.name}", torch.from_numpy(mod.mask), persistent=False)
            self.proj[mod.name] = torch.nn.Linear(mod.dim, params.dim, bias=False)

    def parts(self, users: torch.Tensor) -> list[torch.Tensor]:
        u = self.users[users]
        out = [u[:, 0] @ self.items.T]
        for slot, name in enumerate(("text", "image"), start=1):
            content = self.proj[name](getattr(self, f"x_{name}"))
            content = content * getattr(self, f"m_{name}").unsqueeze(1)
            out.append(u[:, slot] @ content.T)
        return out

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        total = sum(self.parts(users))
        return total if items is None else total[:, items]


def test_explain_shares_equal_the_parts_of_an_additive_model():
    from fusionrec.tasks.recommender import FittedRecommender

    rng = np.random.default_rng(1)
    inter = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [0, 1, 1, 2, 3]})
    dataset = build_dataset("additive", inter)
    text, image = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    features = ItemFeatures(
        4,
        {
            "text": ModalityFeatures("text", text, np.ones(4, bool)),
            "image": ModalityFeatures("image", image, np.array([True, True, False, True])),
        },
    )
    data = TrainData(3, 4, dataset.matrix(), features)
    model = Additive(data, AdditiveParams())
    rec = FittedRecommender(model, data, dataset)
    for user, item in ((0, 2), (1, 3), (2, 2)):
        why = rec.explain(user, item)
        with torch.no_grad():
            truth = [float(p[0, item]) for p in model.parts(torch.tensor([user]))]
        assert why.additive
        assert why.parts["behaviour"] == pytest.approx(truth[0], abs=1e-5)
        assert why.parts["text"] == pytest.approx(truth[1], abs=1e-5)
        assert why.parts["image"] == pytest.approx(truth[2], abs=1e-5)
        total = sum(abs(t) for t in truth)
        assert why.shares["text"] == pytest.approx(truth[1] / total, abs=1e-5)
    assert rec.explain(2, 2).parts["image"] == 0.0  # item 2 has no image


def test_importing_fusionrec_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, fusionrec; assert 'torch' not in sys.modules; print(fusionrec.fit)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_cli_recommend_prints_titles_for_a_user_liked_items_and_text(fitted):
    from typer.testing import CliRunner

    from fusionrec.cli import app

    _, run = fitted
    runner = CliRunner()
    out = runner.invoke(app, ["recommend", str(run), "--user", "u0", "-k", "3", "--explain"])
    assert out.exit_code == 0, out.output
    assert "Star story" in out.output and "behaviour" in out.output
    out = runner.invoke(app, ["recommend", str(run), "--liked", "i21,i22", "-k", "3"])
    assert out.exit_code == 0 and "Love story" in out.output and "Star" not in out.output
    out = runner.invoke(app, ["recommend", str(run), "--text", "robots in space", "-k", "3"])
    assert out.exit_code == 0 and "Star story" in out.output


def test_only_and_exclude_keep_the_models_order_among_the_items_left(fitted):
    rec, _ = fitted
    ranking = rec.recommend("u0", k=40)["item_id"].tolist()  # every unseen item, best first
    only = ranking[::3] + ["i0"]  # i0 may be one u0 trained on: exclude_seen still applies
    got = rec.recommend("u0", k=5, only=only)["item_id"].tolist()
    assert got == [i for i in ranking if i in only][:5]
    got = rec.recommend(["u0"], k=5, exclude=ranking[:3])["item_id"].tolist()
    assert got == ranking[3:8]
    got = rec.recommend("u0", k=5, only=ranking[:6], exclude=ranking[:2])["item_id"].tolist()
    assert got == ranking[2:6]  # only four left: fewer than k
    liked = rec.recommend_for_items(["i21", "i22"], k=5, only=ranking[:10])
    assert len(liked) == 5 and set(liked["item_id"]) <= set(ranking[:10]) - {"i21", "i22"}
    words = rec.recommend_for_text("robots in space", k=5, exclude=ranking[:20])
    assert len(words) == 5 and not set(words["item_id"]) & set(ranking[:20])
    with pytest.raises(DataError, match="unknown item ids: 'i999'"):
        rec.recommend("u0", only=["i1", "i999"])
    with pytest.raises(ConfigError, match="take a list of item ids"):
        rec.recommend("u0", exclude="i1")


def test_cli_recommend_writes_every_users_top_k_to_a_file(fitted, tmp_path):
    from typer.testing import CliRunner

    from fusionrec.cli import app

    rec, run = fitted
    runner = CliRunner()
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"recs{suffix}"
        out = runner.invoke(app, ["recommend", str(run), "--all-users", "-k", "4", "-o", str(path)])
        assert out.exit_code == 0, out.output
        assert f"{len(rec.user_ids) * 4:,} rows written" in out.output
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert len(frame) == 4 * len(rec.user_ids) and set(frame["user_id"]) == set(rec.user_ids)
        expected = rec.recommend(["u0", "u7"], k=4)
        got = frame[frame["user_id"].isin(["u0", "u7"])].reset_index(drop=True)
        assert got["item_id"].tolist() == expected["item_id"].tolist()
        np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-5)
        assert not list(tmp_path.glob(".recs*"))  # written atomically: no temporary left
    ruled = tmp_path / "ruled.csv"
    args = ["--all-users", "-k", "2", "--only", "i1,i2,i3,i21", "--exclude", "i2", "-o", str(ruled)]
    out = runner.invoke(app, ["recommend", str(run), *args])
    assert out.exit_code == 0, out.output
    assert set(pd.read_csv(ruled)["item_id"]) <= {"i1", "i3", "i21"}
    # refused before anything is loaded (the run named here does not exist)
    missing = str(tmp_path / "no-run")
    out = runner.invoke(app, ["recommend", missing, "--all-users"])
    assert "--all-users needs --output FILE" in str(out.exception)
    out = runner.invoke(app, ["recommend", missing, "--all-users", "-o", "recs.xlsx"])
    assert "unknown format '.xlsx'" in str(out.exception)
    out = runner.invoke(app, ["recommend", missing, "--all-users", "--user", "u0", "-o", "r.csv"])
    assert "give exactly one of --user, --liked, --text, --all-users or --histories" in str(
        out.exception
    )


def test_readme_recommend_command_names_a_run_the_demo_writes():
    from fusionrec.cli.demo import DEMO
    from fusionrec.config import read_yaml
    from fusionrec.train.study import study_configs

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "fusionrec recommend runs/demo/mgcn --user 1 -k 10" in readme
    assert "mgcn" in {c.run_name for c in study_configs(read_yaml(DEMO))}


def test_explain_of_an_id_model_is_all_behaviour_even_with_features_loaded():
    from fusionrec.models import build_model
    from fusionrec.tasks.recommender import FittedRecommender

    inter = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [0, 1, 1, 2, 3]})
    dataset = build_dataset("ids", inter)
    text = ModalityFeatures("text", np.eye(4), np.ones(4, bool))
    data = TrainData(3, 4, dataset.matrix(), ItemFeatures(4, {"text": text}))
    rec = FittedRecommender(build_model("lightgcn", data), data, dataset)
    why = rec.explain(0, 2)
    assert why.parts == {"behaviour": pytest.approx(why.score)} and why.view == "behaviour"
    assert rec.views() == ["behaviour", "text"] and rec.dot_product()


def test_explain_on_a_sequential_multimodal_model(tmp_path):
    """MM-SASRec is rebuilt per modality subset from its sequences, with the history its
    scores come from (training + validation): the parts add up to the score."""
    data = tmp_path / "data"
    rec = fusionrec.fit(
        write_catalogue(data),
        model="mmsasrec",
        split="leave-one-out",
        features={
            "modalities": ["text", "image"],
            "precomputed": {"image": str(data / "image.npz")},
            "cache_dir": str(tmp_path / "cache"),
        },
        train={"epochs": 2, "batch_size": 64, "threads": 1},
        overrides=["evaluate.ks=[5,10]"],
        run_dir=tmp_path / "run",
        embedding_size=16,
        n_heads=1,
        max_length=8,
    )
    item = rec.recommend("u0", k=1)["item_id"][0]
    why = rec.explain("u0", item, n=2)
    assert set(why.parts) == {"behaviour", "text", "image"}
    assert sum(why.parts.values()) == pytest.approx(why.score, rel=1e-4, abs=1e-6)
    assert why.score == pytest.approx(float(rec.recommend("u0", k=1)["score"][0]), rel=1e-5)


@pytest.mark.parametrize("name", ["ease", "itemknn"])
def test_item_item_models_recommend_for_a_new_user_as_for_a_known_one(name):
    """EASE and ItemKNN score from the interaction row itself, so a new user who liked
    exactly a known user's items gets that user's recommendations, with no vectors to fold
    in; without item vectors, similar items say why they cannot be had."""
    from fusionrec.models import build_model
    from fusionrec.tasks.recommender import FittedRecommender

    rng = np.random.default_rng(0)
    rows = rng.random((30, 25)) < 0.3
    users, items = np.nonzero(rows)
    dataset = build_dataset("ids", pd.DataFrame({"user_id": users, "item_id": items}))
    data = TrainData(dataset.n_users, dataset.n_items, dataset.matrix())
    model = build_model(name, data, {"reg_weight": 5.0} if name == "ease" else {"k": 10})
    model.fit(data)
    rec = FittedRecommender(model, data, dataset)
    for row, user in enumerate(rec.user_ids[:5]):
        liked = rec.item_ids[data.train_matrix[row].indices]
        known = rec.recommend(user, k=5)
        new = rec.recommend_for_items(liked, k=5)
        assert new["item_id"].tolist() == known["item_id"].tolist()
        np.testing.assert_allclose(new["score"], known["score"], rtol=1e-5)
    with pytest.raises(ModelError, match="scores by item-item weights.*none"):
        rec.similar_items(rec.item_ids[0])
    # with item features too, its own neighbours are not a content view's: by= is asked for
    text = rng.normal(size=(dataset.n_items, 4)).astype(np.float32)
    feats = ItemFeatures(dataset.n_items, {"text": ModalityFeatures("text", text, np.ones(25))})
    with_text = TrainData(dataset.n_users, dataset.n_items, dataset.matrix(), feats)
    rec = FittedRecommender(model, with_text, dataset)
    with pytest.raises(ModelError, match="pass by= one of: 'text'"):
        rec.similar_items(rec.item_ids[0])
    assert len(rec.similar_items(rec.item_ids[0], k=3, by="text")) == 3


def test_a_content_model_on_a_dataset_without_content_says_what_to_give(tmp_path):
    """Features left to their default (every modality the data has) and data with none:
    the error names the dataset and the settings that give content, before any training."""
    data = write_toy_dataset(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"model 'vbpr' needs item features, and dataset .* "
                       r"gives none: name its item table \(dataset.items_path\)"):  # fmt: skip
        fusionrec.fit(
            str(data), model="vbpr", overrides=["evaluate.ks=[5,10]"], run_dir=tmp_path / "run"
        )
    assert not (tmp_path / "run" / "split.parquet").exists()  # refused before the split


def test_a_dataset_path_names_the_run_after_its_file(tmp_path, monkeypatch):
    data = write_toy_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    rec = fusionrec.fit(str(data), model="most-popular", overrides=["evaluate.ks=[5,10]"])
    assert (tmp_path / "runs" / f"{data.stem}-most-popular" / "results.json").exists()
    assert rec.dataset.name == data.stem


def test_tune_searches_on_validation_and_returns_the_best_setting_fitted(tmp_path):
    data = write_toy_dataset(tmp_path / "data")
    space = {"train.lr": {"type": "float", "low": 1e-4, "high": 5e-2, "log": True}}
    result = fusionrec.tune(
        str(data),
        model="mf-bpr",
        n_trials=3,
        space=space,
        train={"epochs": 3, "batch_size": 128},
        overrides=["evaluate.ks=[5,10]", f"output_dir={tmp_path / 'runs'}"],
    )
    summary = json.loads((result.run_dir / "tune.json").read_text())
    assert result.run_dir == tmp_path / "runs" / f"{data.stem}-mf-bpr-tune"
    assert result.params == summary["best_params"] and result.test == summary["test"]
    assert list(result.trials["trial"]) == [0, 1, 2]
    assert list(result.trials["train.lr"]) == [t["params"]["train.lr"] for t in summary["trials"]]
    best = result.trials["valid_recall@20"].idxmax()
    assert result.trials["train.lr"][best] == result.params["train.lr"]
    assert not result.trials["pruned"].any()
    # the best setting's run, reopened: the same model, the learning rate chosen
    users = list(result.best.user_ids)[:4]
    again = fusionrec.load(result.run_dir / "best")
    pd.testing.assert_frame_equal(result.best.recommend(users, k=5), again.recommend(users, k=5))
    saved = yaml.safe_load((result.run_dir / "best" / "config.yaml").read_text())
    assert saved["train"]["lr"] == result.params["train.lr"]


def test_text_features_a_dataset_ships_cannot_embed_a_description(tmp_path):
    """An MMRec folder's text_feat.npy came from an encoder fusionrec does not have: a
    sentence embedded by MiniLM would land in another space."""
    from fusionrec.data.examples import write_mmrec

    folder = write_mmrec(tmp_path / "mmrec")
    rec = fusionrec.fit(
        str(folder),
        model="mf-bpr",
        features=["text"],
        train={"epochs": 1, "threads": 1},
        overrides=["evaluate.ks=[5,10]", f"features.cache_dir={tmp_path / 'cache'}"],
        run_dir=tmp_path / "run",
    )
    assert rec.text_encoder is None
    with pytest.raises(ConfigError, match="cannot be embedded in the same space"):
        rec.recommend_for_text("action films", k=3)


def test_untrained_behaviour_factors_are_no_neighbours():
    """VBPR's collaborative factors of items without training interactions are zero: no
    direction to compare, so such items are neither asked about nor returned."""
    from fusionrec.models import build_model
    from fusionrec.tasks.recommender import FittedRecommender

    rng = np.random.default_rng(0)
    rows = rng.random((30, 25)) < 0.3
    rows[:, :5] = False  # items 0-4: never interacted with
    users, items = np.nonzero(rows)
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    dataset = build_dataset("ids", frame, pd.DataFrame({"item_id": np.arange(25)}))
    text = rng.normal(size=(25, 4)).astype(np.float32)
    feats = ItemFeatures(25, {"text": ModalityFeatures("text", text, np.ones(25, bool))})
    data = TrainData(dataset.n_users, dataset.n_items, dataset.matrix(), feats)
    model = build_model("vbpr", data, {})
    torch.nn.init.normal_(model.item_id.weight)  # as if trained
    rec = FittedRecommender(model.eval(), data, dataset)
    cold = {int(i) for i in rec.item_ids[:5]}
    near = rec.similar_items(rec.item_ids[10], k=25, by="behaviour")["item_id"]
    assert not cold & set(near.tolist()) and len(near) == 25 - 5 - 1
    with pytest.raises(ModelError, match="has no behaviour"):
        rec.similar_items(rec.item_ids[0], by="behaviour")
