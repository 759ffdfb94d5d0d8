"""``benchmarks/bench_state.py``: a study's progress travels as a few small files."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_state import restore, save  # noqa: E402


def _touch(path: Path, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _saved(state: Path) -> list[str]:
    """Every file ``save`` left in ``state``, relative to it, sorted."""
    return sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file())


def test_finished_and_searching_models_keep_what_resuming_needs_and_no_weights(tmp_path):
    runs, state = tmp_path / "runs", tmp_path / "state"
    for name in ("bench.json", "trials.json", "search_config.yaml", "best/results.json",
                 "best/per_user_test.json", "best/seed-1/best.pt"):  # fmt: skip
        _touch(runs / "freedom" / name)
    for name in ("trials.json", "search_config.yaml", "best/results.json", "trial-3/last.pt"):
        _touch(runs / "diffmm" / name)
    _touch(runs / "recbole" / "BPR-seed1-epochs300.json")
    _touch(runs / "recbole" / "saved" / "BPR.pth")
    _touch(runs / "blend.json")
    _touch(runs / "sparse_quality.md")  # the table is written again by --collect
    save(runs, state)
    kept = _saved(state)
    assert kept == [
        "blend.json",
        "diffmm/search_config.yaml",
        "diffmm/trials.json",  # its best run has no weights to score the table: trains again
        "freedom/bench.json",
        "freedom/best/per_user_test.json",
        "freedom/best/results.json",
        "freedom/search_config.yaml",
        "freedom/trials.json",
        "recbole/BPR-seed1-epochs300.json",
    ]
    # a later save replaces the state whole: a model that lost its bench.json loses it there
    (runs / "freedom" / "bench.json").unlink()
    save(runs, state)
    assert not (state / "freedom" / "bench.json").exists()


def test_restore_fills_an_empty_runs_folder_and_keeps_newer_work(tmp_path):
    state, runs = tmp_path / "state", tmp_path / "runs"
    _touch(state / "mgcn" / "trials.json", "[1]")
    _touch(state / "mgcn" / "search_config.yaml", "a: 1")
    _touch(runs / "mgcn" / "trials.json", "[1, 2]")  # this machine got further
    copied = restore(runs, state)
    assert [str(p) for p in copied] == ["mgcn/search_config.yaml"]
    assert (runs / "mgcn" / "trials.json").read_text() == "[1, 2]"


def test_restore_takes_the_state_of_a_model_another_machine_got_further_with(tmp_path):
    state, runs = tmp_path / "state", tmp_path / "runs"
    _touch(state / "mgcn" / "trials.json", "[1, 2, 3]")  # the GPU machine got further
    _touch(state / "mgcn" / "search_config.yaml", "device: cuda")
    _touch(runs / "mgcn" / "trials.json", "[1, 2]")
    _touch(runs / "mgcn" / "search_config.yaml", "device: cpu")
    _touch(state / "smore" / "bench.json", "{}")  # finished there, still searching here
    _touch(state / "smore" / "best" / "results.json", "{}")
    _touch(runs / "smore" / "trials.json", "[1]")
    _touch(runs / "smore" / "best" / "seed-1" / "best.pt", "weights of another search")
    copied = {str(p) for p in restore(runs, state)}
    assert copied == {
        "mgcn/trials.json",
        "mgcn/search_config.yaml",
        "smore/bench.json",
        "smore/best/results.json",
    }
    assert (runs / "mgcn" / "search_config.yaml").read_text() == "device: cuda"
    assert not (runs / "smore" / "best" / "seed-1").exists()
    assert (runs / "smore" / "trials.json").read_text() == "[1]"  # nothing replaces it


def test_a_finished_sequential_run_keeps_what_its_table_reads(tmp_path):
    runs, state = tmp_path / "masked", tmp_path / "state"
    for name in ("config.yaml", "results.json", "manifest.json", "per_user_test.json",
                 "split.parquet", "seed-1/best.pt", "seed-1/metrics.json"):  # fmt: skip
        _touch(runs / "sasrec" / name)
    _touch(runs / "gru4rec" / "seed-1" / "checkpoint.pt")  # still training: nothing to keep
    save(runs, state)
    kept = _saved(state)
    assert kept == [
        "sasrec/config.yaml",
        "sasrec/manifest.json",
        "sasrec/per_user_test.json",
        "sasrec/results.json",
    ]


def test_a_collected_sequential_search_keeps_its_seeds_and_an_uncollected_one_only_its_trials(
    tmp_path,
):
    runs, state = tmp_path / "tuned", tmp_path / "state"
    for name in ("search_config.yaml", "trials.json", "tune.json", "best/config.yaml",
                 "best/results.json", "best/manifest.json", "best/per_user_test.json",
                 "best/seed-1/best.pt"):  # fmt: skip
        _touch(runs / "sasrec" / name)
    for name in ("search_config.yaml", "trials.json", "best/results.json"):
        _touch(runs / "mmsasrec" / name)  # not collected: its table cannot be read without weights
    save(runs, state)
    kept = _saved(state)
    assert kept == [
        "mmsasrec/search_config.yaml",
        "mmsasrec/trials.json",
        "sasrec/best/config.yaml",
        "sasrec/best/manifest.json",
        "sasrec/best/per_user_test.json",
        "sasrec/best/results.json",
        "sasrec/search_config.yaml",
        "sasrec/trials.json",
        "sasrec/tune.json",
    ]


def test_a_recbole_run_still_training_travels_with_its_resume_state_until_it_finishes(tmp_path):
    """A CPU seed of RecBole's SASRec is hours: its resume state goes with the study's state
    so the next machine continues it; once the run is cached as finished it stays behind."""
    runs, state = tmp_path / "runs", tmp_path / "state"
    _touch(runs / "recbole" / "saved" / "SASRec-seed1" / "resume.pth", "epoch 12")
    _touch(runs / "recbole" / "saved" / "SASRec-seed1" / "best.pth")  # inside resume.pth too
    _touch(runs / "recbole" / "saved" / "GRU4Rec-seed2" / "resume.pth")
    _touch(runs / "recbole" / "GRU4Rec-seed2-epochs200.json")  # finished: json only
    save(runs, state)
    assert _saved(state) == [
        "recbole/GRU4Rec-seed2-epochs200.json",
        "recbole/saved/SASRec-seed1/resume.pth",
    ]
    fresh = tmp_path / "fresh"
    copied = {str(p) for p in restore(fresh, state)}
    assert "recbole/saved/SASRec-seed1/resume.pth" in copied
    assert (fresh / "recbole" / "saved" / "SASRec-seed1" / "resume.pth").read_text() == "epoch 12"
