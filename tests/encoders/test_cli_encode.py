from __future__ import annotations

from typer.testing import CliRunner

from fusionrec.cli import app


def test_encode_command_prints_summary_and_reuses_the_cache(movielens_dir, tmp_path):
    config = tmp_path / "features.yaml"
    config.write_text(
        "features:\n  text:\n    encoder: tfidf\n    dim: 32\n    template: '{overview}'\n"
    )
    # by folder, so the test does not depend on where the checkout sits relative to the data
    args = ["encode", "--dataset", str(movielens_dir), "-m", "text", "-c", str(config)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1,664/1,682" in first.output and "overview 98.9%" in first.output
    assert "text encoder: tfidf-svd" in first.output
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "cached" in second.output
