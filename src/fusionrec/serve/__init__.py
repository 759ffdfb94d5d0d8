"""Serving: a run exported as a self-contained bundle (``bundle``), FAISS vector indexes
(``index``), the bundle behind the ``FittedRecommender`` API (``recommender``) and the HTTP
app (``app``). ``fastapi``/``faiss`` load only when used."""

from __future__ import annotations

from typing import Any

_LAZY = {
    "export_bundle": "fusionrec.serve.bundle",
    "read_manifest": "fusionrec.serve.bundle",
    "load_bundle": "fusionrec.serve.recommender",
    "BundleRecommender": "fusionrec.serve.recommender",
    "IndexConfig": "fusionrec.serve.index",
    "VectorIndex": "fusionrec.serve.index",
    "create_app": "fusionrec.serve.app",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
