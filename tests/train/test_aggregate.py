import pytest

from fusionrec.train.experiment import aggregate


def test_aggregate_reports_the_sample_std_over_seeds():
    records = [{"test": {"recall@20": v}} for v in (0.30, 0.32, 0.34)]
    out = aggregate(records, "test")["recall@20"]
    assert abs(out["mean"] - 0.32) < 1e-12
    # sample std (ddof=1) of 0.30, 0.32, 0.34 is 0.02; the population std would be 0.0163
    assert abs(out["std"] - 0.02) < 1e-12


def test_aggregate_of_one_seed_has_zero_std():
    assert aggregate([{"valid": {"ndcg@10": 0.5}}], "valid")["ndcg@10"] == {"mean": 0.5, "std": 0.0}


def test_a_metric_only_some_seeds_have_is_left_out_and_said(caplog):
    """A resumed run whose first seed was scored before novelty@20 existed."""
    old = {"test": {"recall@20": 0.2}}
    new = {"test": {"recall@20": 0.4, "novelty@20": 2.5}}
    for records in ([old, new], [new, old]):
        with caplog.at_level("WARNING"):
            out = aggregate(records, "test")
        assert set(out) == {"recall@20"} and out["recall@20"]["mean"] == pytest.approx(0.3)
        assert "novelty@20 are not in every seed's record" in caplog.text
