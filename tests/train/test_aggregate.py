from fusionrec.train.experiment import aggregate


def test_aggregate_reports_the_sample_std_over_seeds():
    records = [{"test": {"recall@20": v}} for v in (0.30, 0.32, 0.34)]
    out = aggregate(records, "test")["recall@20"]
    assert abs(out["mean"] - 0.32) < 1e-12
    # sample std (ddof=1) of 0.30, 0.32, 0.34 is 0.02; the population std would be 0.0163
    assert abs(out["std"] - 0.02) < 1e-12


def test_aggregate_of_one_seed_has_zero_std():
    assert aggregate([{"valid": {"ndcg@10": 0.5}}], "valid")["ndcg@10"] == {"mean": 0.5, "std": 0.0}
