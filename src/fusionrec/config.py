"""Experiment configuration: one YAML file per experiment, layered defaults, validated.

Layers, later wins: built-in defaults < dataset preset (``presets/datasets/<name>.yaml``) <
model preset (``presets/models/<name>.yaml``) < the experiment file < ``key=value`` overrides
from the command line. Unknown keys are errors that name the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from fusionrec.errors import ConfigError, did_you_mean

PRESETS = Path(__file__).parent / "presets"


class _Loader(yaml.SafeLoader):
    """YAML as people write numbers: ``1e-4`` is a float (YAML 1.1, PyYAML's default, reads
    it as the string "1e-4" unless it has a dot, so ``reg_weight: 1e-4`` would reach the
    model as text and a resumed run would compare "1e-4" with 0.0001)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def yaml_value(text: str) -> Any:
    """``text`` parsed as a config value (``_Loader``'s numbers)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    """Which data and how to clean it. ``path``/``format``/``columns`` serve custom files."""

    name: str = "movielens-100k-mm"
    path: str | None = None
    format: str | None = None
    columns: dict[str, str] | None = None
    items_path: str | None = None
    users_path: str | None = None
    text_fields: list[str] | None = None
    image_column: str | None = None
    audio_column: str | None = None
    media_dir: str | None = None
    image_pattern: str | None = pydantic.Field(None, description="e.g. posters/{movieId}.jpg")
    audio_pattern: str | None = None
    item_text_tables: list[dict[str, str]] | None = pydantic.Field(
        None, description="[{path: tags.csv, column: tag}]: text from a table of many rows per item"
    )
    #: Reader options for CSV/TSV/Parquet/JSON-lines files (see docs/data.md).
    sep: str | None = pydantic.Field(
        None, min_length=1, description="field separator, e.g. ';' (default: ',' csv, tab tsv)"
    )
    encoding: str = "utf-8"
    timestamp_format: str | None = pydantic.Field(None, description="strftime, e.g. %d/%m/%Y")
    ids_as: Literal["auto", "str", "int"] = "auto"
    on_bad_rows: Literal["error", "skip"] = "error"
    implicit_threshold: float | None = None
    dedupe: bool = True
    kcore_user: int = pydantic.Field(0, ge=0)
    kcore_item: int = pydantic.Field(0, ge=0)


class SplitConfig(_Strict):
    #: auto: the data's own split labels (MMRec x_label) when it has them, else random.
    method: Literal["auto", "random", "temporal", "leave-one-out", "predefined", "cold-items"] = (
        "auto"
    )
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 2026
    cold_fraction: float = pydantic.Field(0.2, gt=0, lt=1)
    path: str | None = pydantic.Field(None, description="predefined labels file (.inter)")

    @pydantic.model_validator(mode="after")
    def _path_needs_predefined(self) -> SplitConfig:
        if self.path and self.method not in ("auto", "predefined"):
            raise ValueError(
                f"split.path is a predefined split's labels file, but split.method is "
                f"'{self.method}', which would ignore it; drop one of the two"
            )
        return self


class TrainConfig(_Strict):
    """How the trainer runs. ``metric`` is the validation metric for early stopping."""

    epochs: int = pydantic.Field(300, ge=1)
    batch_size: int = pydantic.Field(2048, ge=1)
    lr: float = pydantic.Field(1e-3, gt=0)
    weight_decay: float = pydantic.Field(0.0, ge=0)
    n_negatives: int = pydantic.Field(1, ge=1)
    patience: int = pydantic.Field(20, ge=1, description="evaluations without improvement")
    eval_every: int = pydantic.Field(1, ge=1)
    metric: str = pydantic.Field(
        "recall@20", pattern=r"^(recall|ndcg|precision|f1|hit|map|mrr)@[1-9]\d*$"
    )
    seed: int = pydantic.Field(2026, description="the run's seed when `seeds` is not given")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = pydantic.Field(1, ge=1, description="epochs between checkpoints")
    checkpoint_seconds: float = pydantic.Field(
        60.0,
        ge=0,
        description="at least this many seconds between checkpoints (the last epoch always "
        "writes one; 0: every checkpoint_every epochs)",
    )
    threads: int | None = pydantic.Field(
        None, ge=1, description="torch CPU threads (default: every core the process may use)"
    )


class ModelConfig(_Strict):
    name: str = "lightgcn"
    params: dict[str, Any] = pydantic.Field(default_factory=dict)


class EvaluateConfig(_Strict):
    ks: list[int] = pydantic.Field(default_factory=lambda: [10, 20, 50])
    batch_users: int = pydantic.Field(4096, ge=1)
    #: Repeat consumption: true ranks items the user has already interacted with too (the
    #: held-out item may be one seen before); false (default) masks them.
    repeat: bool = False
    #: Also report test metrics with each user's held-out items ranked against this many
    #: sampled negatives (named ``sampled<N>-<metric>``), beside the full-ranking ones;
    #: never used for selection. None (default): full ranking only.
    sampled_negatives: int | None = pydantic.Field(None, ge=1)

    @pydantic.field_validator("ks")
    @classmethod
    def _positive(cls, ks: list[int]) -> list[int]:
        if not ks or min(ks) < 1:
            raise ValueError("ks must be a non-empty list of positive integers")
        return ks


class ExperimentConfig(_Strict):
    name: str | None = None
    dataset: DatasetConfig = pydantic.Field(default_factory=DatasetConfig)
    split: SplitConfig = pydantic.Field(default_factory=SplitConfig)
    model: ModelConfig = pydantic.Field(default_factory=ModelConfig)
    train: TrainConfig = pydantic.Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = pydantic.Field(default_factory=EvaluateConfig)
    features: dict[str, Any] | None = pydantic.Field(
        None, description="encoders settings (see docs/encoders.md); None = no item features"
    )
    seeds: list[int] = pydantic.Field(
        default_factory=lambda: [2026], description="one run per seed (default: [train.seed])"
    )
    output_dir: str = "runs"
    search: dict[str, Any] | None = pydantic.Field(None, description="tuning search space")

    @pydantic.field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds:
            raise ValueError("give at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(
                f"seeds must be distinct, got {seeds}: a repeated seed trains the same run "
                "twice and counts it twice in mean ± std"
            )
        return seeds

    @pydantic.model_validator(mode="after")
    def _seed_from_train(self) -> ExperimentConfig:
        """``train.seed`` is the run's seed when ``seeds`` is not given (it was ignored)."""
        if "seeds" not in self.model_fields_set:
            self.seeds = [self.train.seed]
        return self

    @pydantic.model_validator(mode="after")
    def _sampled_needs_full_catalogue(self) -> ExperimentConfig:
        if self.evaluate.sampled_negatives and self.split.method == "cold-items":
            raise ValueError(
                "evaluate.sampled_negatives: a cold-items split already ranks a candidate set "
                "(the withheld items); remove one of the two"
            )
        return self

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset.name}-{self.model.name}"


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def nest(key: str, value: Any) -> dict[str, Any]:
    """``("train.lr", 0.01)`` -> ``{"train": {"lr": 0.01}}``: a dotted key as config sections."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def parse_override(text: str) -> dict[str, Any]:
    """``train.lr=0.01`` -> ``{"train": {"lr": 0.01}}`` (values parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.subkey=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override '{text}' has an empty key")
    return nest(key.strip(), yaml_value(raw) if raw.strip() else None)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml_value(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _preset(kind: str, name: str | None) -> dict[str, Any]:
    path = PRESETS / kind / f"{name}.yaml"
    return read_yaml(path) if name and path.exists() else {}


#: Sections that are always mappings: left empty in YAML (a heading whose keys are all
#: commented out) or set to null on the command line, they mean "nothing to change".
_MAPPING_SECTIONS = ("dataset", "split", "model", "train", "evaluate")


def _empty_sections(user: dict[str, Any]) -> dict[str, Any]:
    user = {k: ({} if v is None and k in _MAPPING_SECTIONS else v) for k, v in user.items()}
    model = user.get("model")
    if isinstance(model, dict) and "params" in model and model["params"] is None:
        user["model"] = {**model, "params": {}}
    return user


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` where it is a mapping, else {}: a section of the wrong type is left for
    validation to name, not a crash here."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _for_base(preset: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """A wrapping model's preset ``base_params`` were chosen for the preset's ``base``: when
    the user's layers name another base, it starts from its own defaults instead (another
    model's parameters would not even validate)."""
    params = preset.get("model", {}).get("params", {})
    base = _mapping(_mapping(user, "model"), "params").get("base")
    if "base_params" not in params or base is None or base == params.get("base"):
        return preset
    kept = {k: v for k, v in params.items() if k not in ("base", "base_params")}
    return {**preset, "model": {**preset["model"], "params": kept}}


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """Build an ``ExperimentConfig`` from the layers; errors name the offending key."""
    user = deep_merge(base or {}, read_yaml(path) if path else {})
    for text in overrides or []:
        user = deep_merge(user, parse_override(text))
    return with_presets(user, source=str(path) if path else "config")


def with_presets(user: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """``user`` layered over its dataset's and model's presets, validated: what every
    command and ``fusionrec demo`` train with."""
    user = _empty_sections(user)
    dataset_name = _mapping(user, "dataset").get("name", DatasetConfig().name)
    model_name = _mapping(user, "model").get("name", ModelConfig().name)
    model_preset = _for_base(_preset("models", model_name), user)
    layered = deep_merge(_preset("datasets", dataset_name), model_preset)
    return validate_config(deep_merge(layered, user), source=source)


def read_saved_config(path: str | Path) -> ExperimentConfig:
    """A config fusionrec wrote (a run's ``config.yaml``, a search's ``best_config.yaml``),
    validated as written. No preset is layered under it: the file already holds what was
    run, and a preset changed since (new defaults chosen on validation) must not change a
    model rebuilt from it."""
    return validate_config(read_yaml(path), source=str(path))


def validate_config(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """The validated config; ``model.params`` is checked against the model's own schema here,
    so a misspelt hyper-parameter fails before any data is read or encoded."""
    try:
        config = ExperimentConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _invalid(source, [_problem(err) for err in exc.errors()]) from exc
    # imported here, not at the top: the schemas live with the models and torch, which
    # importing this module must not load (see docs/architecture.md)
    from fusionrec.models.base import validate_params

    try:
        validate_params(config.model.name, config.model.params)
    except ConfigError as exc:
        raise _invalid(source, str(exc).splitlines()) from exc
    return config


def _problem(err: Any) -> str:
    """One validation error as ``key: message``; a misspelt key also names the closest one
    its section takes (``train.batchsize`` -> ``batch_size``)."""
    loc = [str(part) for part in err["loc"]]
    line = f"{'.'.join(loc)}: {err['msg']}"
    if err["type"] == "extra_forbidden":
        guess = did_you_mean(loc[-1], _keys_at(loc[:-1]))
        line += f" ({guess})" if guess else ""
    return line


def _keys_at(path: list[str]) -> list[str]:
    """The keys of the config section at ``path`` (none where it leads into free-form data)."""
    section: type[pydantic.BaseModel] = ExperimentConfig
    for key in path:
        field = section.model_fields.get(key)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)):
            return []
        section = annotation
    return list(section.model_fields)


def _invalid(source: str, problems: list[str]) -> ConfigError:
    return ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def dump_config(config: ExperimentConfig) -> str:
    """The config as a run directory saves it: every file it names absolute (see
    ``anchor_paths``)."""
    return yaml.safe_dump(anchor_paths(config.model_dump(mode="json")), sort_keys=False)


#: Dataset settings that name a file or folder, read relative to the working directory.
_DATASET_PATHS = ("path", "items_path", "users_path", "media_dir")


def anchor_paths(data: dict[str, Any]) -> dict[str, Any]:
    """A config mapping (as ``model_dump`` or a saved ``config.yaml`` gives it) with the
    relative paths it names made absolute against the working directory, which is what they
    mean when the config is used. A saved run then reads the same data from any folder, and
    two configs compare equal when they name the same files however they spell them."""
    data = {**data}

    def fix(value: Any) -> Any:  # "~" as the readers and encoders read it, not a folder "~"
        return (
            os.path.abspath(os.path.expanduser(value))
            if isinstance(value, str) and value
            else value
        )

    dataset = {**(data.get("dataset") or {})}
    for key in _DATASET_PATHS:
        dataset[key] = fix(dataset.get(key))
    if dataset.get("item_text_tables"):
        dataset["item_text_tables"] = [
            {**table, "path": fix(table.get("path"))} for table in dataset["item_text_tables"]
        ]
    data["dataset"] = {k: v for k, v in dataset.items() if k in data.get("dataset", {})}
    if (data.get("split") or {}).get("path"):
        data["split"] = {**data["split"], "path": fix(data["split"]["path"])}
    features = data.get("features")
    if isinstance(features, dict):
        features = {**features}
        if features.get("cache_dir"):
            features["cache_dir"] = fix(features["cache_dir"])
        if isinstance(features.get("precomputed"), dict):
            features["precomputed"] = {
                name: fix(src) if isinstance(src, str) else {**src, "path": fix(src.get("path"))}
                for name, src in features["precomputed"].items()
            }
        data["features"] = features
    return data
