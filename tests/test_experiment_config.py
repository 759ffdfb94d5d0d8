from __future__ import annotations

import pytest

from fusionrec.config import load_config, parse_override
from fusionrec.errors import ConfigError


def test_layers_apply_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "dataset: {name: amazon-baby}\nmodel: {name: lightgcn, params: {n_layers: 3}}\n"
    )
    cfg = load_config(path, ["train.lr=0.01"])
    assert cfg.split.method == "predefined"  # dataset preset
    assert cfg.model.params["reg_weight"] == 1e-4  # model preset
    assert cfg.model.params["n_layers"] == 3  # file beats preset
    assert cfg.train.lr == 0.01  # command line beats file


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
    ],
)
def test_invalid_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_unknown_model_param_is_named():
    import scipy.sparse as sp

    from fusionrec.models import TrainData, build_model

    data = TrainData(2, 2, sp.csr_matrix((2, 2)))
    with pytest.raises(ConfigError, match="model.params \\(mf-bpr\\).layers"):
        build_model("mf-bpr", data, {"layers": 2})
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        build_model("nope", data)


def test_example_configs_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "configs"
    paths = sorted(folder.glob("*.yaml"))
    assert paths
    for path in paths:
        load_config(path)
