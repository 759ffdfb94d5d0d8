from __future__ import annotations

import json
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fusionrec.config import TrainConfig
from fusionrec.evaluate import Evaluator
from fusionrec.models import TrainData, build_model
from fusionrec.train import seed_everything, train_model
from fusionrec.train.sampling import NegativeSampler


@pytest.fixture(scope="module")
def world():
    """Users in two communities that each consume one half of the catalogue."""
    rng = np.random.default_rng(0)
    n_users, n_items = 80, 60
    rows, cols = [], []
    for u in range(n_users):
        half = np.arange(30) if u % 2 == 0 else np.arange(30, 60)
        items = rng.choice(half, 12, replace=False)
        rows += [u] * 12
        cols += items.tolist()
    mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    coo = mat.tocoo()
    held = rng.random(coo.nnz) < 0.2
    train = sp.csr_matrix((coo.data[~held], (coo.row[~held], coo.col[~held])), shape=mat.shape)
    valid = sp.csr_matrix((coo.data[held], (coo.row[held], coo.col[held])), shape=mat.shape)
    return TrainData(n_users, n_items, train), Evaluator(valid, train, ks=[10, 20])


def test_negative_sampler_never_returns_positives():
    train = sp.random(50, 40, density=0.5, random_state=0, format="csr")
    sampler = NegativeSampler(train, np.random.default_rng(0))
    users = np.repeat(np.arange(50), 20)
    neg = sampler.sample(users, 3)
    assert neg.shape == (1000, 3)
    assert not np.asarray(train[np.repeat(users, 3), neg.ravel()]).any()


def test_negative_sampler_bitset_and_binary_search_draw_the_same(monkeypatch):
    """Small grids use a bit set, large ones binary search: the same negatives either way."""
    from fusionrec.train import sampling

    train = sp.random(60, 45, density=0.3, random_state=1, format="csr")
    users = np.repeat(np.arange(60), 10)
    fast = sampling.NegativeSampler(train, np.random.default_rng(5))
    monkeypatch.setattr(sampling, "BITSET_LIMIT", 0)
    slow = sampling.NegativeSampler(train, np.random.default_rng(5))
    assert fast.bits is not None and slow.bits is None
    assert np.array_equal(fast.sample(users, 2), slow.sample(users, 2))


@pytest.mark.parametrize("name", ["mf-bpr", "lightgcn"])
def test_training_learns_the_communities(world, name):
    data, valid = world
    seed_everything(0)
    model = build_model(name, data)
    before = valid.evaluate(model.eval().score)["recall@10"]
    result = train_model(
        model,
        data,
        valid,
        TrainConfig(epochs=40, lr=0.01, batch_size=256, patience=40),
        progress=False,
    )
    assert result.best_valid["recall@10"] > before + 0.1
    assert result.best_valid["recall@10"] > 0.3  # random would be ~10/48


def test_early_stopping_restores_best_weights(world):
    data, valid = world
    seed_everything(0)
    model = build_model("mf-bpr", data)
    cfg = TrainConfig(epochs=200, lr=0.05, batch_size=256, patience=3)
    result = train_model(model, data, valid, cfg, progress=False)
    assert result.stopped_early and result.epochs_run < 200
    assert result.epochs_run == result.best_epoch + 3
    final = valid.evaluate(model.eval().score)
    assert final["recall@20"] == pytest.approx(result.best_valid["recall@20"])


def test_resume_continues_exactly(world, tmp_path):
    data, valid = world
    cfg = dict(lr=0.01, batch_size=256, patience=100, seed=3)

    def fresh():
        seed_everything(3)
        return build_model("mf-bpr", data)

    full = fresh()
    train_model(full, data, valid, TrainConfig(epochs=6, **cfg), progress=False)

    part = fresh()
    run = tmp_path / "run"
    train_model(part, data, valid, TrainConfig(epochs=3, **cfg), run_dir=run, progress=False)
    assert (run / "checkpoint.pt").exists() and (run / "best.pt").exists()
    resumed = fresh()
    result = train_model(
        resumed, data, valid, TrainConfig(epochs=6, **cfg), run_dir=run, progress=False, resume=True
    )
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5, 6]
    assert json.loads((run / "history.json").read_text())[-1]["epoch"] == 6
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b)


def test_on_eval_sees_every_validation_score_a_resumed_run_s_earlier_ones_first(world, tmp_path):
    """A search's pruner judges a trial by its whole validation curve, also when the trial
    continued from a checkpoint; what ``on_eval`` raises ends the run."""
    data, valid = world
    cfg = dict(lr=0.01, batch_size=256, patience=100, seed=3)
    run, seen = tmp_path / "run", []

    def record(epoch, value):
        seen.append((epoch, value))

    seed_everything(3)
    first = train_model(
        build_model("mf-bpr", data), data, valid, TrainConfig(epochs=2, **cfg),
        run_dir=run, progress=False, on_eval=record,
    )  # fmt: skip
    assert seen == [(h["epoch"], h["valid_recall@20"]) for h in first.history]
    seen.clear()
    seed_everything(3)
    resumed = train_model(
        build_model("mf-bpr", data), data, valid, TrainConfig(epochs=4, **cfg),
        run_dir=run, progress=False, resume=True, on_eval=record,
    )  # fmt: skip
    assert seen == [(h["epoch"], h["valid_recall@20"]) for h in resumed.history]
    assert [e for e, _ in seen] == [1, 2, 3, 4]

    class Stop(Exception):
        pass

    def stop_at_two(epoch, value):
        if epoch == 2:
            raise Stop

    seed_everything(3)
    with pytest.raises(Stop):
        train_model(
            build_model("mf-bpr", data), data, valid, TrainConfig(epochs=6, **cfg),
            progress=False, on_eval=stop_at_two,
        )  # fmt: skip


def test_a_run_resumed_after_it_stopped_reports_its_epochs_seconds(world, tmp_path):
    """Resuming (a study restarted on another day) trains no further epoch of a finished
    seed; its timings come from the epochs' own records, saved with the checkpoint."""
    data, valid = world
    cfg = TrainConfig(epochs=4, lr=0.01, batch_size=256, patience=100, seed=3)
    run = tmp_path / "run"
    seed_everything(3)
    first = train_model(build_model("mf-bpr", data), data, valid, cfg, run_dir=run, progress=False)
    assert first.seconds_per_epoch > 0 and first.cpu_seconds_per_epoch > 0
    assert all(h["seconds"] > 0 and h["eval_seconds"] > 0 for h in first.history)
    seed_everything(3)
    again = train_model(
        build_model("mf-bpr", data), data, valid, cfg, run_dir=run, progress=False, resume=True
    )
    assert again.epochs_run == 4 and len(again.history) == 4
    assert again.seconds_per_epoch == pytest.approx(first.seconds_per_epoch)
    assert again.cpu_seconds_per_epoch == pytest.approx(first.cpu_seconds_per_epoch)
    assert again.seconds_per_eval == pytest.approx(first.seconds_per_eval)


def _writes(monkeypatch, minutes_per_epoch: float) -> list[tuple[str, int]]:
    """Record each file the trainer saves (name and the epoch it is saved at) while a fake
    clock moves ``minutes_per_epoch`` per training epoch."""
    from types import SimpleNamespace

    from fusionrec.train import trainer as trainer_module

    clock, writes, epoch = {"now": 0.0}, [], {"now": 0}
    fake = SimpleNamespace(
        monotonic=lambda: clock["now"],
        perf_counter=time.perf_counter,
        process_time=time.process_time,
    )
    real_epoch, real_save = trainer_module.Trainer.train_epoch, trainer_module.save_torch

    def train_epoch(self, n):
        epoch["now"] = n
        clock["now"] += 60 * minutes_per_epoch
        return real_epoch(self, n)

    def save(path, obj):
        writes.append((path.name, epoch["now"]))
        return real_save(path, obj)

    monkeypatch.setattr(trainer_module, "time", fake)
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", train_epoch)
    monkeypatch.setattr(trainer_module, "save_torch", save)
    return writes


@pytest.mark.parametrize(
    ("seconds", "every", "checkpoints"),
    [(60, 1, [3, 6, 7]), (0, 1, [1, 2, 3, 4, 5, 6, 7]), (0, 2, [2, 4, 6, 7]), (1000, 1, [7])],
)
def test_checkpoints_follow_the_clock_and_the_last_epoch_always_writes_one(
    world, tmp_path, monkeypatch, seconds, every, checkpoints
):
    """25 s an epoch, a checkpoint at least ``checkpoint_seconds`` apart and only every
    ``checkpoint_every`` epochs, always one after the last epoch; best.pt is written with
    a checkpoint, only when the best moved, and ends as the best epoch's weights."""
    data, valid = world
    writes = _writes(monkeypatch, minutes_per_epoch=25 / 60)
    cfg = TrainConfig(epochs=7, lr=0.01, batch_size=256, patience=100, seed=3,
                      checkpoint_seconds=seconds, checkpoint_every=every)  # fmt: skip
    seed_everything(3)
    run = tmp_path / "run"
    model = build_model("mf-bpr", data)
    result = train_model(model, data, valid, cfg, run_dir=run, progress=False)
    assert [e for name, e in writes if name == "checkpoint.pt"] == checkpoints
    best_writes = [e for name, e in writes if name == "best.pt"]
    assert set(best_writes) <= set(checkpoints) and len(best_writes) == len(set(best_writes))
    assert json.loads((run / "best.json").read_text())["epoch"] == result.best_epoch
    for a, b in zip(torch.load(run / "best.pt").values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the model ends on the best weights, best.pt holds them


def test_an_early_stop_writes_its_checkpoint(world, tmp_path, monkeypatch):
    data, valid = world
    writes = _writes(monkeypatch, minutes_per_epoch=0.1)
    cfg = TrainConfig(epochs=200, lr=0.05, batch_size=256, patience=3, seed=3)
    seed_everything(3)
    result = train_model(
        build_model("mf-bpr", data), data, valid, cfg, run_dir=tmp_path, progress=False
    )
    assert result.stopped_early
    assert [e for name, e in writes if name == "checkpoint.pt"][-1] == result.epochs_run
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == result.epochs_run and state["best"]["epoch"] == result.best_epoch


def test_nonfinite_loss_is_reported(world):
    data, valid = world
    model = build_model("mf-bpr", data)
    with torch.no_grad():
        model.user_emb.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="lower train.lr"):
        train_model(model, data, valid, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize("name", ["most-popular", "itemknn", "ease"])
def test_closed_form_baselines(world, name, monkeypatch):
    data, valid = world
    model = build_model(name, data)
    fit = model.fit

    def slow_fit(data):  # the fit is the training time a benchmark row reports
        time.sleep(0.05)
        fit(data)

    monkeypatch.setattr(model, "fit", slow_fit)
    result = train_model(model, data, valid, TrainConfig(), progress=False)
    expected = 0.0 if name == "most-popular" else 0.3
    assert result.best_valid["recall@10"] > expected
    assert result.epochs_run == 1 and result.seconds_per_epoch >= 0.05
    scores = model.eval().score(torch.arange(5), torch.tensor([1, 2, 3]))
    assert scores.shape == (5, 3)


def test_epoch_cpu_seconds_count_work_not_waiting(world, monkeypatch):
    """Wall and CPU seconds per epoch are both reported; a wait (a shared core, I/O) shows
    in the wall time only, work in both."""
    data, valid = world
    model = build_model("mf-bpr", data)
    step = model.calculate_loss

    def waiting_then_working(batch):
        time.sleep(0.02)
        spin = time.process_time()
        while time.process_time() - spin < 0.02:
            pass
        return step(batch)

    monkeypatch.setattr(model, "calculate_loss", waiting_then_working)
    config = TrainConfig(epochs=2, batch_size=10_000, patience=5, threads=1)
    result = train_model(model, data, valid, config, progress=False)
    assert result.seconds_per_epoch >= 0.04
    assert 0.02 <= result.cpu_seconds_per_epoch <= result.seconds_per_epoch - 0.015


def test_itemknn_scores_neighbours_of_history():
    # item 0 and 1 always co-occur; item 2 never with them
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float))
    model = build_model("itemknn", TrainData(4, 3, train), {"k": 2})
    model.fit(TrainData(4, 3, train))
    s = model.score(torch.tensor([3]))
    assert s[0, 1] > 0 and s[0, 2] == 0


def test_fused_adam_makes_the_same_updates_as_plain_adam(world):
    """The trainer's optimizer is Adam's fused kernel (one pass a tensor), not a different
    update rule: a few steps from the same start land on the same weights."""
    from fusionrec.train.trainer import adam

    data, _ = world
    cfg = TrainConfig(lr=0.01, weight_decay=1e-4)
    weights = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = build_model("mf-bpr", data)
        opt = (
            adam(list(model.parameters()), cfg)
            if fused
            else torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
        )
        assert bool(opt.defaults["fused"]) == fused
        torch.manual_seed(1)
        for _ in range(5):
            batch = {
                "users": torch.randint(0, data.n_users, (64,)),
                "pos_items": torch.randint(0, data.n_items, (64,)),
                "neg_items": torch.randint(0, data.n_items, (64,)),
            }
            opt.zero_grad()
            model.calculate_loss(batch).backward()
            opt.step()
        weights.append(model.item_emb.weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-6)


def test_trainer_uses_every_core_by_default_and_says_so(world, caplog, monkeypatch):
    data, valid = world
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    before = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="fusionrec"):
            train_model(
                build_model("mf-bpr", data), data, valid, TrainConfig(epochs=1), progress=False
            )
        assert torch.get_num_threads() == 3
        assert "with 3 CPU thread(s)" in caplog.text
        one = TrainConfig(epochs=1, threads=1)
        train_model(build_model("mf-bpr", data), data, valid, one, progress=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_run_that_never_improves_on_its_first_evaluation_is_warned_about(world, caplog):
    data, valid = world
    seed_everything(0)
    stalled = TrainConfig(epochs=50, lr=1e-12, batch_size=256, patience=3, threads=1)
    with caplog.at_level("WARNING", logger="fusionrec"):
        result = train_model(build_model("mf-bpr", data), data, valid, stalled, progress=False)
    assert (result.best_epoch, result.epochs_run) == (1, 4)
    assert "validation recall@20 never improved on epoch 1's within patience 3" in caplog.text
    assert "train.lr" in caplog.text and "train.patience" in caplog.text
    caplog.clear()
    learning = TrainConfig(epochs=50, lr=0.05, batch_size=256, patience=3, threads=1)
    with caplog.at_level("WARNING", logger="fusionrec"):
        result = train_model(build_model("mf-bpr", data), data, valid, learning, progress=False)
    assert result.stopped_early and result.best_epoch > 1
    assert "never improved" not in caplog.text
