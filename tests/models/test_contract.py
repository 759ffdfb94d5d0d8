"""The contract every registered model keeps, checked for every name in the registry (a model
is covered the day it is registered).

Each model is trained for two epochs by the experiment runner on a tiny catalogue with text
and image features (pre-computed files, some images missing), then:
- ``score(users, items)`` equals the matching columns of ``score(users)``, finite, right shape;
- the run directory re-opens to a model that scores identically, and ``rescore_run``
  reproduces the recorded test metrics;
- building and training read only the training matrix: other validation/test interactions
  leave the trained model's scores unchanged (same seed; validation is scored only after the
  last epoch, so it cannot change which weights are kept). A sequential model scores test
  from the user's train + validation history by design, so for it only test moves;
- test is scored exactly once;
- every view the model lists (``available_views``: behaviour, content, fused) gives one
  finite vector per item;
- a model with user and item vectors scores by them, user . item, plus its per-item
  offsets where it has them (``item_score_offsets``; then and only then
  ``scores_by_dot_product`` is False), so its recommendations can be served from vectors;
- a trainable model stopped after an epoch and resumed from its checkpoint trains the
  weights of an uninterrupted run.
The experiment runner's masks (train and validation when scoring test) are checked once, on
a two-seed run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from eval_spy import Evaluation, spy_on_evaluations
from fusionrec.config import ExperimentConfig, validate_config
from fusionrec.data.dataset import ITEM
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.models import MODELS
from fusionrec.tasks.views import available_views, item_view
from fusionrec.train.experiment import Prepared, prepare, run_experiment, run_seed
from fusionrec.train.reload import load_run_model, rescore_run
from toy_data import write_toy_dataset, write_toy_features

#: The few parameters a model needs beyond its defaults on this catalogue; keep it tiny.
MODEL_PARAMS: dict[str, dict[str, Any]] = {"cold-transfer": {"base": "mf-bpr", "k": 5}}
SEED = 7
#: fused models whose item vector has a behaviour-only part (``behaviour_embeddings``)
KEEP_BEHAVIOUR = {"mgcn", "smore", "vbpr", "mmsasrec"}
N_ITEMS = 40

# tiny models: one thread is much faster on a busy shared machine (conftest fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("contract")
    return {
        "folder": folder,
        "interactions": str(write_toy_dataset(folder / "data", n_items=N_ITEMS)),
        "features": write_toy_features(folder, N_ITEMS),
    }


def make_config(world: dict[str, Any], name: str, seeds: list[int]) -> ExperimentConfig:
    return validate_config(
        {
            "name": f"contract-{name}",
            "dataset": {"name": "toy", "path": world["interactions"]},
            "model": {"name": name, "params": MODEL_PARAMS.get(name, {})},
            "train": {
                "epochs": 2,
                "eval_every": 2,  # validation only after the last epoch
                "lr": 0.01,
                "batch_size": 128,
                "metric": "recall@10",
                "device": "cpu",
                # one thread: two runs must agree to 1e-6, and multi-threaded reductions
                # (softmax over all items in SASRec's loss) may sum in another order
                "threads": 1,
            },
            "evaluate": {"ks": [5, 10]},
            "features": {
                "modalities": ["text", "image"],
                "precomputed": world["features"],
                "cache_dir": str(world["folder"] / "cache"),
            },
            "seeds": seeds,
            "output_dir": str(world["folder"] / "runs"),
        }
    )


@dataclass
class Trained:
    config: ExperimentConfig
    run_dir: Path
    prep: Prepared
    results: dict[str, Any]
    tests: list[Evaluation]  # the evaluations of the test split
    others: list[Evaluation]  # every other evaluation (validation)

    def matrix(self, part: int) -> sp.csr_matrix:
        return self.prep.split.matrix(self.prep.dataset, part)


def train_run(world: dict[str, Any], name: str, seeds: list[int]) -> Trained:
    config = make_config(world, name, seeds)
    run_dir = world["folder"] / "runs" / f"{name}-{len(seeds)}"
    with spy_on_evaluations() as spy:
        results = run_experiment(config, run_dir, progress=False)
    prep = prepare(config, run_dir, progress=False)  # the run's saved split
    tests = spy.on(prep.split.matrix(prep.dataset, TEST))
    others = [c for c in spy.calls if all(c is not t for t in tests)]
    return Trained(config, run_dir, prep, results, tests, others)


@pytest.fixture(scope="module")
def trained(world):
    """``trained(name)``: the model's one-seed run, trained once per module."""
    cache: dict[str, Trained] = {}

    def get(name: str) -> Trained:
        if name not in cache:
            cache[name] = train_run(world, name, [SEED])
        return cache[name]

    return get


def all_users(run: Trained) -> torch.Tensor:
    return torch.arange(run.prep.dataset.n_users)


ALL_MODELS = sorted(MODELS)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_scores_have_the_contract_shape_and_agree_on_item_subsets(trained, name):
    run = trained(name)
    assert len(run.tests) == 1, "test must be scored exactly once per seed"
    model = run.tests[0].model
    n_users, n_items = run.prep.dataset.n_users, run.prep.dataset.n_items
    model.eval()
    with torch.no_grad():
        full = model.score(all_users(run))
        assert full.shape == (n_users, n_items)
        assert torch.isfinite(full).all()
        torch.testing.assert_close(full, run.tests[0].scores)  # eval mode is deterministic
        items = torch.tensor([n_items - 1, 0, 7, 7, 23])
        users = torch.tensor([5, 0, n_users - 1, 5])
        sub = model.score(users, items)
        assert sub.shape == (len(users), len(items))
        torch.testing.assert_close(sub, full[users][:, items], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.score(users), full[users], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_reloaded_run_scores_identically(trained, name):
    run = trained(name)
    model, _ = load_run_model(run.run_dir, SEED)
    model.eval()
    with torch.no_grad():
        reloaded = model.score(all_users(run))
    torch.testing.assert_close(reloaded, run.tests[0].scores, rtol=1e-6, atol=1e-6)
    rescored = rescore_run(run.run_dir)[SEED]
    recorded = run.results["per_seed"][0]["test"]
    assert rescored == pytest.approx(recorded, abs=1e-9)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_listed_view_gives_item_vectors(trained, name):
    run = trained(name)
    model, features = run.tests[0].model, run.prep.features
    model.eval()
    views = available_views(model, features)
    if model.item_embeddings() is not None:  # a model with vectors can be compared in them
        assert "fused" in views if model.requires_features else views[0] == "behaviour"
        keeps_behaviour = not model.requires_features or name in KEEP_BEHAVIOUR
        assert ("behaviour" in views) == keeps_behaviour
    for view in views:
        vectors = item_view(model, features, view)
        assert vectors.shape[0] == run.prep.dataset.n_items and vectors.ndim == 2
        assert np.isfinite(vectors).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_a_model_with_vectors_scores_by_them(trained, name):
    run = trained(name)
    model = run.tests[0].model.eval()
    with torch.no_grad():
        items, users, offsets = (
            model.item_embeddings(),
            model.user_embeddings(),
            model.item_score_offsets(),
        )
    assert (offsets is not None) == (not model.scores_by_dot_product)
    if items is None or users is None:
        assert offsets is None
        return
    expected = users @ items.T + (0 if offsets is None else offsets)
    torch.testing.assert_close(run.tests[0].scores, expected, rtol=1e-4, atol=1e-4)


def moved_heldout(prep: Prepared, parts: tuple[int, ...] = (VALID, TEST)) -> Prepared:
    """The same training interactions; every interaction of ``parts`` moved to another item
    (the opposite community), so those held-out data differ completely."""
    ds = prep.dataset
    inter = ds.interactions.copy()
    held = np.isin(prep.split.labels, parts)
    items = inter[ITEM].to_numpy().copy()
    items[held] = (items[held] + ds.n_items // 2) % ds.n_items
    inter[ITEM] = items
    return Prepared(dataclasses.replace(ds, interactions=inter), prep.split, prep.features)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_training_reads_only_the_training_matrix(trained, name):
    run = trained(name)
    moved = (TEST,) if MODELS[name].sequential else (VALID, TEST)
    other = moved_heldout(run.prep, moved)
    for part in moved:
        assert (other.split.matrix(other.dataset, part) != run.matrix(part)).nnz > 0
    assert (other.split.matrix(other.dataset, TRAIN) != run.matrix(TRAIN)).nnz == 0
    with spy_on_evaluations() as spy:
        run_seed(run.config, other, SEED, None, progress=False)
    (test_call,) = spy.on(other.split.matrix(other.dataset, TEST))
    torch.testing.assert_close(test_call.scores, run.tests[0].scores, rtol=1e-6, atol=1e-6)


def test_runner_masks_train_and_valid_and_scores_test_once_per_seed(world):
    run = train_run(world, "mf-bpr", [1, 2])
    train, valid, test = (run.matrix(p) for p in (TRAIN, VALID, TEST))
    assert len(run.tests) == 2 and run.tests[0].model is not run.tests[1].model
    assert all((c.evaluator.target != valid).nnz == 0 for c in run.others)  # validation only
    # an oracle that loves training items most, then validation, then test: with train and
    # validation masked, every user's test items fill the top of the list
    oracle = torch.from_numpy((3 * train + 2 * valid + test).toarray()).float()
    n_test_users = int((np.diff(test.indptr) > 0).sum())
    for call, record in zip(run.tests, run.results["per_seed"], strict=True):
        assert call.metrics == record["test"]
        m = call.evaluator.evaluate(lambda users: oracle[users])
        assert m["users"] == n_test_users
        assert m["ndcg@5"] == pytest.approx(1.0) and m["ndcg@10"] == pytest.approx(1.0)


TRAINABLE = [n for n in ALL_MODELS if MODELS[n].trainable]


@pytest.mark.parametrize("name", TRAINABLE)
def test_a_run_stopped_after_an_epoch_resumes_to_the_same_weights(world, name):
    """Long searches are stopped and resumed from checkpoints all the time (a session ends, a
    machine is lent back): three epochs straight and one epoch, a stop, then two more must
    train the same weights, so every piece of training state a model keeps (a second
    optimizer, sampled graphs, random streams) has to travel in the checkpoint."""
    base = make_config(world, name, [SEED])
    runs: dict[str, dict[str, torch.Tensor]] = {}
    for label, stops in (("straight", [3]), ("resumed", [1, 3])):
        run_dir = world["folder"] / "resume" / f"{name}-{label}"
        for i, epochs in enumerate(stops):
            train = base.train.model_copy(update={"epochs": epochs, "eval_every": 1})
            config = base.model_copy(update={"train": train})
            run_experiment(config, run_dir, progress=False, resume=i > 0)
        state = torch.load(run_dir / f"seed-{SEED}" / "checkpoint.pt", weights_only=False)
        assert state["epoch"] == 3
        runs[label] = state["model"]
    straight, resumed = runs["straight"], runs["resumed"]
    assert straight.keys() == resumed.keys()
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-5, atol=1e-6, msg=key)
