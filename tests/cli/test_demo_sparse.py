"""``fusionrec demo --spec configs/demo-sparse.yaml``: the sparse study's short demo runs on
the real movielens-latest-small-mm and says how short it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fusionrec.cli import app

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "configs" / "demo-sparse.yaml"


def test_demo_sparse_spec_is_the_benchmark_data_and_runs(tmp_path, data_root, monkeypatch):
    if not (data_root / "movielens-latest-small-mm").exists():
        pytest.skip("movielens-latest-small-mm is not available")
    spec = yaml.safe_load(SPEC.read_text())
    bench = yaml.safe_load((ROOT / "benchmarks" / "sparse_study.yaml").read_text())
    assert spec["dataset"] == bench["dataset"] and spec["split"] == bench["split"]
    # the same spec, cut to one epoch, three models and cheap TF-IDF text (the real spec
    # encodes text and posters, minutes on a CPU the first time)
    spec["train"]["epochs"] = 1
    spec["models"] = [{"name": "most-popular"}, {"name": "mf-bpr"}, {"name": "vbpr"}]
    spec["features"] = {
        "modalities": ["text"],
        "text": {"encoder": "tfidf", "dim": 16},
        "cache_dir": str(tmp_path / "cache"),
    }
    small = tmp_path / "demo.yaml"
    small.write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(ROOT)  # the spec's data paths are relative to the project root
    result = CliRunner().invoke(
        app, ["demo", "--spec", str(small), "-o", str(tmp_path / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "movielens-latest-small-mm" in out and "vbpr" in out
    assert "predefined split, seeds [1]; at most 1 epochs, lr 0.005" in out
    assert "no hyper-parameter search" in out and "benchmarks/results/sparse_quality.md" in out
