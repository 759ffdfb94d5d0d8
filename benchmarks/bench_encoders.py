"""Encoder throughput on movielens-100k-mm: full pipeline vs the bare model forward.

For images, "bare" is EfficientNet-Lite0 on pre-decoded, pre-normalised tensors; the
pipeline reads, decodes and resizes every poster itself. For text, "bare" is the
sentence-transformers forward on pre-tokenized batches; the pipeline tokenizes, batches and
pools. Both use the same batch size and 2 torch threads. The goal: pipeline >= 80% of bare.
It also times a full ``build_item_features`` into an empty cache, the cached re-run, and a
re-run after the posters were copied elsewhere (their digests are read, nothing re-encoded).

    python benchmarks/bench_encoders.py [--image-batch 8] [--text-batch 32] [--quick]

Writes ``benchmarks/results/encoders.json`` and ``encoders.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fusionrec.data import load_dataset  # noqa: E402
from fusionrec.encoders import FeaturesConfig, extract_item_features  # noqa: E402
from fusionrec.encoders.base import length_sorted_batches  # noqa: E402
from fusionrec.encoders.config import EfficientNetImage, SentenceTransformerText  # noqa: E402
from fusionrec.encoders.efficientnet import (  # noqa: E402
    LITE_MEAN,
    LITE_STD,
    EfficientNetLiteEncoder,
)
from fusionrec.encoders.images import load_rgb, missing_path, to_normalized_tensor  # noqa: E402
from fusionrec.encoders.sentence_transformer import SentenceTransformerEncoder  # noqa: E402
from fusionrec.encoders.templates import default_template, render_texts  # noqa: E402
from fusionrec.io import write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from common import provenance, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_image(paths: list[str], batch_size: int, workers: int, repeats: int) -> dict:
    encoder = EfficientNetLiteEncoder(EfficientNetImage(batch_size=batch_size, workers=workers))
    present = [p for p in paths if not missing_path(p)]
    pixels = np.stack([load_rgb(p, encoder.config.image_size) for p in present])
    batches = [
        to_normalized_tensor(pixels[i : i + batch_size], LITE_MEAN, LITE_STD, True)
        for i in range(0, len(pixels), batch_size)
    ]

    def bare() -> None:
        with torch.inference_mode():
            for x in batches:
                encoder.features(x)

    def pipeline() -> None:
        encoder.encode(paths)

    encoder.encode(paths[:16])  # warm-up: model load, allocator, thread pool
    bare_s, pipe_s = [], []
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        bare_s.append(timed(bare))
        pipe_s.append(timed(pipeline))
    return _rates("image", len(present), len(paths), min(bare_s), min(pipe_s), batch_size)


def bench_text(texts: list[str], batch_size: int, repeats: int) -> dict:
    encoder = SentenceTransformerEncoder(SentenceTransformerText(batch_size=batch_size))
    model = encoder.model
    kept = [t for t in texts if t.strip()]
    lengths = [len(ids) for ids in model.tokenizer(kept, truncation=True)["input_ids"]]
    # sentence-transformers >= 6 calls it ``preprocess``; older releases ``tokenize``.
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    features = [
        tokenize([kept[i] for i in index.tolist()])
        for index in length_sorted_batches(lengths, batch_size)
    ]

    def bare() -> None:
        with torch.inference_mode():
            for batch in features:
                model(batch)

    def pipeline() -> None:
        encoder.encode(texts)

    encoder.encode(texts[:64])
    bare_s, pipe_s = [], []
    for _ in range(repeats):
        bare_s.append(timed(bare))
        pipe_s.append(timed(pipeline))
    return _rates("text", len(kept), len(texts), min(bare_s), min(pipe_s), batch_size)


def _rates(name: str, n_model: int, n_inputs: int, bare: float, pipe: float, bs: int) -> dict:
    bare_rate, pipe_rate = n_model / bare, n_model / pipe
    return {
        "modality": name,
        "batch_size": bs,
        "items": n_inputs,
        "items_through_model": n_model,
        "bare_seconds": round(bare, 2),
        "pipeline_seconds": round(pipe, 2),
        "bare_items_per_s": round(bare_rate, 1),
        "pipeline_items_per_s": round(pipe_rate, 1),
        "ratio": round(pipe_rate / bare_rate, 3),
    }


def bench_cache(dataset, config: FeaturesConfig) -> dict:
    """Into an empty cache; re-run with nothing changed; re-run after the posters were copied
    elsewhere (new paths and timestamps, same bytes: every file is read once for its digest,
    nothing is encoded again)."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as copy:

        def run(data) -> float:
            return timed(
                lambda: extract_item_features(data, config, ["text", "image"], cache, False)
            )

        cold, warm = run(dataset), run(dataset)
        column = dataset.image_column
        copied = [
            shutil.copy(p, Path(copy) / f"{i}{Path(p).suffix}") if not missing_path(p) else p
            for i, p in enumerate(dataset.items[column])
        ]
        moved = dataclasses.replace(dataset, items=dataset.items.assign(**{column: copied}))
        after_copy = run(moved)
    return {
        "cold_seconds": round(cold, 2),
        "cached_rerun_seconds": round(warm, 3),
        "copied_rerun_seconds": round(after_copy, 3),
    }


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def to_markdown(result: dict) -> str:
    rows = [
        "| modality | batch | items through model | bare items/s | pipeline items/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["throughput"]:
        rows.append(
            f"| {r['modality']} | {r['batch_size']} | {r['items_through_model']} | "
            f"{r['bare_items_per_s']} | {r['pipeline_items_per_s']} | {r['ratio']:.0%} |"
        )
    cache = result["cache"]
    info = result["machine"]
    return "\n".join(
        [
            "# Encoder throughput (movielens-100k-mm)",
            "",
            "Written whole by `bench_encoders.py`; do not edit by hand.  ",
            f"Date: {result['date']}  ",
            f"Commit: {result['commit']} "
            + {True: "(working tree had uncommitted changes)  ", False: "(clean tree)  "}.get(
                result["dirty"], "(tree not checked: no git program on this machine)  "
            ),
            f"Command: `{result['command']}`  ",
            f"Machine: {info['cpu']}, {info['cpu_count']} CPUs (shared), "
            f"torch {info['torch']} with {info['torch_threads']} threads, "
            f"Python {info['python']}, {info['platform']}; load average at start "
            f"{info['load_average_at_start']}",
            "",
            "Bare = model forward on pre-loaded tensors / pre-tokenized batches; pipeline = "
            "`encode()` on raw inputs (image decode + resize in background threads; tokenisation, "
            "batching, pooling). Best of the interleaved repeats. Goal: ratio >= 80%.",
            "",
            *rows,
            "",
            "Cache: not measured (--quick)."
            if cache is None
            else f"`build_item_features` text+image into an empty cache: {cache['cold_seconds']} s;"
            f" cached re-run (nothing changed): {cache['cached_rerun_seconds']} s; re-run after"
            f" the posters were copied elsewhere (new paths and timestamps, same bytes): "
            f"{cache.get('copied_rerun_seconds', 'not measured')} s.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens-100k-mm")
    parser.add_argument("--image-batch", type=int, default=8)
    parser.add_argument("--image-workers", type=int, default=1)
    parser.add_argument("--text-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="first 300 items, no cache timing")
    args = parser.parse_args()
    torch.set_num_threads(2)

    dataset = load_dataset(args.dataset)
    n = 300 if args.quick else dataset.n_items
    paths = dataset.items[dataset.image_column].tolist()[:n]
    texts, _ = render_texts(dataset.items, default_template(dataset.text_fields))
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "dataset": args.dataset,
        **provenance(),
        "machine": machine(),
        "throughput": [
            bench_image(paths, args.image_batch, args.image_workers, args.repeats),
            bench_text(texts[:n], args.text_batch, args.repeats),
        ],
    }
    config = FeaturesConfig.model_validate(
        {
            "image": {"batch_size": args.image_batch, "workers": args.image_workers},
            "text": {"batch_size": args.text_batch},
        }
    )
    result["cache"] = None if args.quick else bench_cache(dataset, config)
    print(to_markdown(result))
    if not args.quick:
        write_result(RESULTS / "encoders.md", to_markdown(result))  # refuses a dirty tree
        write_json(RESULTS / "encoders.json", result)


if __name__ == "__main__":
    main()
