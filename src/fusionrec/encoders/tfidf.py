"""TF-IDF + truncated SVD (latent semantic analysis): a text encoder that needs no model.

Fitted on the catalogue's own texts, so the features of one item depend on all the others
and the encoder never runs in chunks. Sublinear term frequency, smoothed idf and L2-normalised
rows follow the usual LSA recipe; the SVD output (U * S) is L2-normalised so cosine and dot
product agree.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from fusionrec.encoders.base import TextEncoder, l2_normalize, settings_string
from fusionrec.encoders.config import TfidfText

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def tokenize(text: str, ngram_max: int) -> list[str]:
    """Lower-cased words of 2+ characters, plus word n-grams up to ``ngram_max``."""
    words = _TOKEN.findall(text.lower())
    grams = list(words)
    for n in range(2, ngram_max + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


def fit_vocabulary(texts: list[str], config: TfidfText) -> tuple[dict[str, int], np.ndarray]:
    """(term -> column, idf per column) learnt from ``texts`` with the config's df limits."""
    df = Counter(term for t in texts for term in set(tokenize(t, config.ngram_max)))
    n_docs = len(texts)
    max_df = config.max_df * n_docs
    terms = [t for t, c in df.items() if config.min_df <= c <= max_df]
    if config.max_features is not None and len(terms) > config.max_features:
        terms = sorted(terms, key=lambda t: (-df[t], t))[: config.max_features]
    vocab = {t: j for j, t in enumerate(sorted(terms))}
    doc_freq = np.asarray([df[t] for t in sorted(vocab)], dtype=np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0
    return vocab, idf


def tfidf_transform(
    texts: list[str], vocab: dict[str, int], idf: np.ndarray, ngram_max: int
) -> sp.csr_matrix:
    """Documents x terms TF-IDF (sublinear tf, unit rows) over a fitted vocabulary, so unseen
    texts (e.g. a classifier's test set) are weighted exactly like the fitting corpus."""
    rows, cols, counts = [], [], []
    for i, text in enumerate(texts):
        for term, count in Counter(tokenize(text, ngram_max)).items():
            j = vocab.get(term)
            if j is not None:
                rows.append(i)
                cols.append(j)
                counts.append(count)
    shape = (len(texts), len(vocab))
    tf = sp.csr_matrix((np.asarray(counts, np.float64), (rows, cols)), shape=shape)
    tf.data = 1.0 + np.log(tf.data)
    weighted = tf @ sp.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted)


def tfidf_matrix(texts: list[str], config: TfidfText) -> sp.csr_matrix:
    """Documents x terms TF-IDF (sublinear tf, smoothed idf, unit rows) fitted on ``texts``."""
    vocab, idf = fit_vocabulary(texts, config)
    return tfidf_transform(texts, vocab, idf, config.ngram_max)


def truncated_svd(matrix: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """``U * S`` of the top ``dim`` singular triplets, signs fixed for reproducibility."""
    k = min(dim, min(matrix.shape) - 1)
    if k < 1:
        return np.zeros((matrix.shape[0], dim), dtype=np.float32)
    u, s, vt = svds(matrix.astype(np.float64), k=k, rng=np.random.default_rng(seed))
    order = np.argsort(-s)
    u, s, vt = u[:, order], s[order], vt[order]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    out = np.zeros((matrix.shape[0], dim), dtype=np.float64)
    out[:, :k] = u * (s * signs)
    return out.astype(np.float32)


class TfidfSvdEncoder(TextEncoder):
    """LSA features of dimension ``dim`` (fewer real components on a tiny corpus)."""

    chunkable = False

    def __init__(self, config: TfidfText) -> None:
        super().__init__()
        self.config = config
        self.id = "tfidf-svd:v1:" + settings_string(
            dim=config.dim,
            min_df=config.min_df,
            max_df=config.max_df,
            max_features=config.max_features,
            ngram_max=config.ngram_max,
            seed=config.seed,
        )

    @property
    def dim(self) -> int:
        return self.config.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return l2_normalize(
            truncated_svd(tfidf_matrix(texts, self.config), self.dim, self.config.seed)
        )
