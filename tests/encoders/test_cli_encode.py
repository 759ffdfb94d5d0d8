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


def test_exported_features_read_back_as_precomputed_with_the_same_rows_and_mask(
    movielens_dir, tmp_path
):
    """`encode --export` on the machine with the encoders, `features.precomputed` on one
    without: the model must see the very matrix and mask (the items without text masked)."""
    import numpy as np

    from fusionrec.config import load_config
    from fusionrec.train.experiment import load_clean_dataset, load_features

    section = {"text": {"encoder": "tfidf", "dim": 32, "template": "{overview}"}}
    base = {"dataset": {"path": str(movielens_dir)}, "model": {"name": "vbpr"}}
    cfg = load_config(base={**base, "features": {**section, "modalities": ["text"]}})
    config = tmp_path / "features.yaml"
    config.write_text(
        "features:\n  text:\n    encoder: tfidf\n    dim: 32\n    template: '{overview}'\n"
    )
    args = ["encode", "--dataset", str(movielens_dir), "-m", "text", "-c", str(config)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--export", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "features.precomputed" in result.output

    ds = load_clean_dataset(cfg)
    encoded, _ = load_features(
        cfg.model_copy(update={"features": {**cfg.features, "cache_dir": str(tmp_path / "cache")}}),
        ds,
        progress=False,
    )
    precomputed = {
        "modalities": ["text"],
        "precomputed": {"text": str(tmp_path / "out" / "text.npz")},
    }
    imported, _ = load_features(
        cfg.model_copy(update={"features": precomputed}), ds, progress=False
    )
    a, b = encoded["text"], imported["text"]
    assert np.array_equal(a.matrix, b.matrix) and np.array_equal(a.mask, b.mask)
    assert 0 < a.mask.sum() < len(a.mask)  # some items have no overview: their mask travels
    assert b.encoder_id == f"precomputed:text.npz (encoded by {a.encoder_id})"


def test_exported_string_ids_align_by_id_in_another_catalogue_order(tmp_path):
    import numpy as np

    from fusionrec.data.features import ItemFeatures, ModalityFeatures
    from fusionrec.encoders.precomputed import export_features, load_precomputed

    ids = np.array(["b", "a", "c"], dtype=object)
    mod = ModalityFeatures(
        "image", np.arange(6, dtype=np.float32).reshape(3, 2), [True, False, True]
    )
    (path,) = export_features(ItemFeatures(3, {"image": mod}), ids, tmp_path)
    back = load_precomputed("image", path, np.array(["c", "b", "a", "d"], dtype=object))
    assert back.matrix.tolist() == [[4, 5], [0, 1], [0, 0], [0, 0]]
    assert back.mask.tolist() == [True, True, False, False]  # "a" had no image, "d" is unknown
