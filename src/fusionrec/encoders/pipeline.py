"""Stage 2 of the pipeline: a ``Dataset``'s item content -> ``ItemFeatures``.

For each requested modality: read it from a pre-computed file if one is configured,
otherwise render its inputs from the item table (texts from the template, image/audio
paths from their columns), and encode them through the feature store so an unchanged
re-run is a cache read.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionrec.data.dataset import Dataset
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.encoders.config import FeaturesConfig
from fusionrec.encoders.images import missing_path
from fusionrec.encoders.precomputed import load_precomputed
from fusionrec.encoders.registry import make_encoder
from fusionrec.encoders.store import FeatureStore, fingerprint_files, fingerprint_texts
from fusionrec.encoders.templates import default_template, render_texts
from fusionrec.errors import ConfigError
from fusionrec.io import write_atomic
from fusionrec.progress import ProgressReporter

log = logging.getLogger("fusionrec.encoders")

ENCODED_MODALITIES = ("text", "image", "audio")
#: How many missing items the log names; all of them are in the report and the CSV.
_MISSING_EXAMPLES = 5
#: Progress is reported about this many times per modality (rounded to whole batches).
_PROGRESS_UPDATES = 50
_REASON_KIND = re.compile(r"[a-z ]*[a-z]|")


@dataclass
class ModalityReport:
    """What extraction of one modality produced, for logs, tables and run manifests."""

    name: str
    encoder_id: str
    dim: int
    n_items: int
    present: int
    seconds: float
    from_cache: bool
    problems: dict[int, str] = field(default_factory=dict)
    #: Fraction of items with a non-empty value per text field the template uses.
    field_coverage: dict[str, float] = field(default_factory=dict)
    #: External ids of the first items without content, and the CSV listing all of them.
    missing_examples: list[str] = field(default_factory=list)
    missing_file: Path | None = None

    @property
    def coverage(self) -> float:
        return self.present / self.n_items if self.n_items else 0.0

    @property
    def items_per_second(self) -> float | None:
        if self.from_cache or self.seconds <= 0:
            return None
        return self.n_items / self.seconds

    def reason_counts(self) -> dict[str, int]:
        """Missing items per kind of reason (``no image``, ``file not found`` ...), most
        frequent first; the reasons themselves name the file."""
        kinds = Counter(_REASON_KIND.match(r).group() for r in self.problems.values())
        return dict(kinds.most_common())


@dataclass
class FeatureReport:
    modalities: list[ModalityReport] = field(default_factory=list)

    def log_summary(self, logger: logging.Logger = log) -> None:
        """One line per modality, one more for field coverage and one for missing items:
        never a line per item (the full list is in ``missing_file``)."""
        for m in self.modalities:
            source = "cache" if m.from_cache else f"{m.seconds:.1f}s"
            logger.info(
                "%s: dim %d, %d/%d items present (%.1f%%), %s, encoder %s",
                m.name,
                m.dim,
                m.present,
                m.n_items,
                100 * m.coverage,
                source,
                m.encoder_id,
            )
            if m.field_coverage:
                fields = ", ".join(f"{k} {100 * v:.1f}%" for k, v in m.field_coverage.items())
                logger.info("%s field coverage: %s", m.name, fields)
            if m.problems:
                why = ", ".join(f"{n} {kind}" for kind, n in m.reason_counts().items())
                more = ", ..." if len(m.problems) > len(m.missing_examples) else ""
                logger.info(
                    "%s: %d items without content (%s), e.g. item ids %s%s; full list: %s",
                    m.name,
                    len(m.problems),
                    why,
                    ", ".join(m.missing_examples),
                    more,
                    m.missing_file or "not written (the feature cache is off)",
                )


def default_modalities(dataset: Dataset, config: FeaturesConfig) -> list[str]:
    """Every modality the dataset has content for, plus every pre-computed one (configured
    or shipped with the data, like MMRec's ``image_feat.npy``)."""
    names = [n for n in dataset.precomputed if n not in config.precomputed]
    if (dataset.text_fields or config.text.template) and "text" not in names:
        names.append("text")
    if dataset.image_column and "image" not in names:
        names.append("image")
    if dataset.audio_column and "audio" not in names:
        names.append("audio")
    return names + [n for n in config.precomputed if n not in names]


def modality_inputs(
    dataset: Dataset, name: str, config: FeaturesConfig, store: FeatureStore
) -> tuple[list[Any], str, dict[str, float]]:
    """(inputs, inputs fingerprint, text field coverage) of an encoded modality; ``store``
    keeps the memo of file digests that fingerprints image and audio files."""
    if name == "text":
        template = config.text.template or (
            default_template(dataset.text_fields) if dataset.text_fields else None
        )
        if template is None:
            raise ConfigError(
                f"dataset '{dataset.name}' has no text fields; name the item table's text "
                "columns in dataset.text_fields (with dataset.items_path), or set "
                "features.text.template"
            )
        texts, coverage = render_texts(dataset.items, template)
        return texts, fingerprint_texts(texts), coverage
    column = dataset.image_column if name == "image" else dataset.audio_column
    if column is None or column not in dataset.items.columns:
        raise ConfigError(
            f"dataset '{dataset.name}' has no {name} column; set dataset.{name}_column to the "
            f"item table's {name} file column, or read features computed elsewhere with "
            f"features.precomputed: {{{name}: path/to/{name}_feat.npy}}"
        )
    paths = [None if missing_path(p) else str(p) for p in dataset.items[column].tolist()]
    section = config.image if name == "image" else config.audio
    fingerprint = fingerprint_files(paths, store.digests_path, reread=section.content_hash)
    return paths, fingerprint, {}


def _encode_modality(
    dataset: Dataset,
    name: str,
    config: FeaturesConfig,
    store: FeatureStore,
    progress: ProgressReporter,
    use_cache: bool,
) -> tuple[ModalityFeatures, ModalityReport]:
    section = getattr(config, name)
    inputs, fingerprint, coverage = modality_inputs(dataset, name, config, store)
    encoder = make_encoder(section)
    chunk_size = getattr(section, "chunk_size", 256)
    batch_size = getattr(section, "batch_size", 1)
    step = batch_size * math.ceil(len(inputs) / _PROGRESS_UPDATES / batch_size)
    start = time.perf_counter()
    task = progress.add(f"{name} ({section.encoder})", len(inputs))
    result = store.compute(
        name,
        encoder,
        inputs,
        fingerprint,
        chunk_size=chunk_size,
        meta={"dataset": dataset.name, "modality": name, "n_items": len(inputs)},
        on_progress=lambda done: progress.update(task, done),
        use_cache=use_cache,
        progress_step=max(1, step),
    )
    if result.from_cache:
        progress.update(task, len(inputs), rate="cached")
    features = ModalityFeatures(name, result.matrix, result.mask, encoder.id, result.problems)
    key = store.key(encoder.id, fingerprint, len(inputs))
    report = ModalityReport(
        name=name,
        encoder_id=encoder.id,
        dim=features.dim,
        n_items=len(inputs),
        present=int(features.mask.sum()),
        seconds=time.perf_counter() - start if not result.from_cache else result.seconds,
        from_cache=result.from_cache,
        problems=result.problems,
        field_coverage=coverage,
    )
    if result.problems:  # with the cache off nothing is written there, this list neither
        _record_missing(report, dataset, store.missing_path(name, key) if use_cache else None)
    return features, report


def _record_missing(report: ModalityReport, dataset: Dataset, path: Path | None) -> None:
    """Keep the first few ids of the items without content for the log and, given ``path``,
    write every one of them there (external id, index, reason)."""
    import pandas as pd

    index = list(report.problems)
    table = pd.DataFrame(
        {
            "item_id": dataset.item_ids[index],
            "item_index": index,
            "reason": list(report.problems.values()),
        }
    )
    report.missing_examples = [str(i) for i in table["item_id"].head(_MISSING_EXAMPLES)]
    if path is not None:
        write_atomic(path, lambda tmp: table.to_csv(tmp, index=False))
        report.missing_file = path


def extract_item_features(
    dataset: Dataset,
    config: FeaturesConfig | None = None,
    modalities: list[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    use_cache: bool = True,
) -> tuple[ItemFeatures, FeatureReport]:
    """``ItemFeatures`` for ``dataset`` plus a report of dims, coverage, time and problems.

    ``modalities=None`` means every modality the dataset has; an empty list means none.
    """
    config = config or FeaturesConfig()
    names = default_modalities(dataset, config) if modalities is None else modalities
    shipped = {n: p for n, p in dataset.precomputed.items() if n not in config.precomputed}
    precomputed = sorted({*config.precomputed, *shipped})
    unknown = [n for n in names if n not in ENCODED_MODALITIES and n not in precomputed]
    if unknown:
        raise ConfigError(
            f"unknown modalities {unknown}: encoded ones are {list(ENCODED_MODALITIES)}, "
            f"pre-computed ones {precomputed}"
        )
    store = FeatureStore(cache_dir)
    features = ItemFeatures(dataset.n_items)
    report = FeatureReport()
    with ProgressReporter(progress, logger=log) as reporter:
        for name in names:
            if name in config.precomputed or name in shipped:
                start = time.perf_counter()
                if name in shipped:
                    ids = dataset.item_ids
                    mod = load_precomputed(name, shipped[name], ids, rows_are_ids=True)
                else:
                    source = config.precomputed[name]
                    mod = load_precomputed(name, source.path, dataset.item_ids, source.id_column)
                mod_report = ModalityReport(
                    name=name,
                    encoder_id=mod.encoder_id,
                    dim=mod.dim,
                    n_items=dataset.n_items,
                    present=int(mod.mask.sum()),
                    seconds=time.perf_counter() - start,
                    from_cache=False,
                )
            else:
                mod, mod_report = _encode_modality(
                    dataset, name, config, store, reporter, use_cache
                )
            features.add(mod)
            report.modalities.append(mod_report)
    report.log_summary()
    return features, report


def build_item_features(
    dataset: Dataset,
    config: FeaturesConfig | None = None,
    modalities: list[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> ItemFeatures:
    """The features every model consumes; see ``extract_item_features`` for the report."""
    features, _ = extract_item_features(dataset, config, modalities, cache_dir, progress)
    return features
