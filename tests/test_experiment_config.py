from __future__ import annotations

import pytest

from fusionrec.config import load_config, parse_override
from fusionrec.errors import ConfigError


def test_layers_apply_in_order(tmp_path):
    import yaml

    from fusionrec.config import PRESETS

    preset = yaml.safe_load((PRESETS / "models" / "lightgcn.yaml").read_text())
    assert preset["model"]["params"]["n_layers"] != 3 and preset["train"]["lr"] != 0.01
    path = tmp_path / "c.yaml"
    path.write_text(
        "dataset: {name: amazon-baby}\nmodel: {name: lightgcn, params: {n_layers: 3}}\n"
    )
    cfg = load_config(path, ["train.lr=0.01"])
    assert cfg.split.method == "predefined"  # dataset preset
    assert cfg.model.params["reg_weight"] == preset["model"]["params"]["reg_weight"]
    assert cfg.model.params["n_layers"] == 3  # file beats preset
    assert cfg.train.lr == 0.01  # command line beats file and preset


def test_a_model_preset_may_set_training_defaults_that_a_config_overrides(tmp_path):
    """bench_defaults.py writes a chosen learning rate into a model's preset (MF-BPR's)."""
    import yaml

    from fusionrec.config import PRESETS

    preset = yaml.safe_load((PRESETS / "models" / "mf-bpr.yaml").read_text())
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: mf-bpr}\n")
    assert load_config(path).train.lr == preset["train"]["lr"]
    assert load_config(path, ["train.lr=0.01"]).train.lr == 0.01


def test_a_wrapped_base_keeps_its_preset_parameters_only_for_the_base_they_were_chosen_for():
    """cold-transfer's preset tunes its LightGCN base (``base_params``); a config that wraps
    another base starts that base from its own defaults, and still validates."""
    import yaml

    from fusionrec.config import PRESETS

    preset = yaml.safe_load((PRESETS / "models" / "cold-transfer.yaml").read_text())["model"]
    assert preset["params"]["base"] == "lightgcn" and "n_layers" in preset["params"]["base_params"]
    default = load_config(None, ["model.name=cold-transfer"]).model.params
    assert default["base_params"] == preset["params"]["base_params"]
    same = load_config(None, ["model.name=cold-transfer", "model.params.base=lightgcn"])
    assert same.model.params["base_params"] == preset["params"]["base_params"]
    other = load_config(None, ["model.name=cold-transfer", "model.params.base=mf-bpr"])
    assert other.model.params["base"] == "mf-bpr" and not other.model.params.get("base_params")
    assert other.model.params["k"] == preset["params"]["k"]  # its own parameters stay
    mine = [
        "model.name=cold-transfer",
        "model.params.base=mf-bpr",
        "model.params.base_params.reg_weight=0.1",
    ]
    assert load_config(None, mine).model.params["base_params"] == {"reg_weight": 0.1}


def test_override_parsing():
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    with pytest.raises(ConfigError, match="key.subkey=value"):
        parse_override("nonsense")


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.lr=-1", "train.lr"),
        ("split.method=sideways", "split.method"),
        ("evaluate.ks=[]", "evaluate.ks"),
        ("bogus=1", "bogus"),
        ("train.metric=recall@0", "train.metric"),
        ("train.metric=ndcg@020", "train.metric"),  # else accepted, then never computed
        ("model=lightgcn", "model"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_a_section_left_empty_means_nothing_to_change(tmp_path):
    """A YAML heading whose keys are all commented out reads as null."""
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: mf-bpr\n  params:\n    # embedding_size: 32\ntrain:\n")
    config = load_config(path)
    assert config.model.name == "mf-bpr" and config.train.lr > 0
    assert load_config(None, ["model.params=null"]).model.params == load_config().model.params
    assert load_config(None, ["dataset=null"]).dataset.name == load_config().dataset.name


def test_a_saved_config_expands_the_home_folder(tmp_path, monkeypatch):
    from fusionrec.config import dump_config

    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config(
        None, ["features.precomputed.text=~/feats/text.npz", "dataset.path=~/data/r.csv"]
    )
    saved = dump_config(config)
    assert f"{tmp_path}/feats/text.npz" in saved and f"{tmp_path}/data/r.csv" in saved
    assert "~" not in saved


def test_unknown_model_param_is_named():
    import scipy.sparse as sp

    from fusionrec.models import TrainData, build_model

    data = TrainData(2, 2, sp.csr_matrix((2, 2)))
    with pytest.raises(
        ConfigError,
        match=r"model\.params\.layers: .* \(model 'mf-bpr' takes embedding_size, reg_weight\)",
    ):
        build_model("mf-bpr", data, {"layers": 2})
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        build_model("nope", data)


@pytest.mark.parametrize(
    "override, pattern",
    [
        (
            "model.params.layers=2",
            r"model\.params\.layers: Extra inputs .* \(model 'lightgcn' takes .*n_layers",
        ),
        (
            "model.params.n_layers=many",
            r"model\.params\.n_layers: .*integer.* \(model 'lightgcn'\)",
        ),
    ],
)
def test_model_params_are_checked_when_the_config_is_loaded(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, ["model.name=lightgcn", override])


def test_an_unknown_model_is_a_config_error_listing_the_registered_ones():
    with pytest.raises(
        ConfigError, match=r"model\.name: unknown model 'nope'; choose from .*lightgcn"
    ):
        load_config(None, ["model.name=nope"])


def test_a_misspelt_key_or_name_gets_the_closest_valid_one():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["train.batchsize=64", "dataset.colums.user=u", "traning.lr=1"])
    message = str(caught.value)
    assert "train.batchsize: Extra inputs are not permitted (did you mean 'batch_size'?)" in message
    assert "dataset.colums: Extra inputs are not permitted (did you mean 'columns'?)" in message
    assert "traning: Extra inputs are not permitted (did you mean 'train'?)" in message
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["train.zzz=1"])  # nothing close: no guess
    assert "did you mean" not in str(caught.value)
    guess = r"unknown model 'lightgcm' \(did you mean 'lightgcn'\?\)"
    with pytest.raises(ConfigError, match=guess):
        load_config(None, ["model.name=lightgcm"])
    with pytest.raises(ConfigError, match=r"reg_weight; did you mean 'n_layers'\?\)"):
        load_config(None, ["model.name=lightgcn", "model.params.n_layer=2"])


def test_train_reports_a_bad_param_before_reading_any_data(tmp_path):
    """The dataset path does not exist: the param error must still be the one reported."""
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    config.write_text(
        "dataset: {name: custom, path: /no/such/interactions.csv}\n"
        "model: {name: mf-bpr, params: {layers: 2}}\n"
    )
    exe = [sys.executable, "-c", "from fusionrec.cli import main; main()"]
    proc = subprocess.run([*exe, "train", "-c", str(config)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "model.params.layers" in proc.stderr and "mf-bpr" in proc.stderr
    assert "/no/such" not in proc.stderr


def test_example_configs_are_valid():
    from pathlib import Path

    from fusionrec.config import read_yaml
    from fusionrec.train.study import study_configs

    folder = Path(__file__).resolve().parents[1] / "configs"
    paths = sorted(folder.glob("*.yaml"))
    assert paths
    for path in paths:
        spec = read_yaml(path)
        if "models" in spec:  # a study for `fusionrec demo --spec`: one config per model
            assert study_configs(spec)
        else:
            load_config(path)


def test_f1_at_k_can_be_the_selection_metric():
    assert load_config(None, ["train.metric=f1@10"]).train.metric == "f1@10"


def test_train_seed_is_the_seed_when_seeds_is_not_given_and_seeds_are_distinct():
    assert load_config(None, ["train.seed=5"]).seeds == [5]
    assert load_config(None, ["train.seed=5", "seeds=[1,2]"]).seeds == [1, 2]
    with pytest.raises(ConfigError, match=r"seeds must be distinct, got \[1, 1\]"):
        load_config(None, ["seeds=[1,1]"])


def test_numbers_in_scientific_notation_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: mf-bpr, params: {reg_weight: 1e-4}}\ntrain: {lr: 5E-3}\n")
    cfg = load_config(path, ["model.params.embedding_size=64"])
    assert cfg.model.params["reg_weight"] == 1e-4 and isinstance(
        cfg.model.params["reg_weight"], float
    )
    assert cfg.train.lr == 0.005
    assert parse_override("model.params.reg_weight=2e-5") == {
        "model": {"params": {"reg_weight": 2e-5}}
    }
    assert parse_override("name=1e") == {"name": "1e"}  # not a number: stays text


def test_a_split_file_with_another_method_is_refused():
    with pytest.raises(ConfigError, match=r"split.path is a predefined split's labels file"):
        load_config(None, ["split.path=labels.inter", "split.method=random"])
    assert load_config(None, ["split.path=labels.inter"]).split.method == "auto"


@pytest.mark.parametrize("model", ["sasrec", "gru4rec", "mmsasrec"])
def test_a_sequential_model_trains_on_batches_of_128_windows_unless_a_config_says_otherwise(
    tmp_path, model
):
    path = tmp_path / "c.yaml"
    path.write_text(f"model: {{name: {model}}}\n")
    assert load_config(path).train.batch_size == 128
    assert load_config(path, ["train.batch_size=64"]).train.batch_size == 64
    other = tmp_path / "mf.yaml"
    other.write_text("model: {name: mf-bpr}\n")
    assert load_config(other).train.batch_size == 2048
