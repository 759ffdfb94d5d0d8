"""fusionrec: multimodal recommendation from raw content."""

__version__ = "0.1.0"

#: Names served lazily by ``__getattr__``: importing ``fusionrec`` must not import torch.
_API = {
    "fit": "fusionrec.api",
    "load": "fusionrec.api",
    "FittedRecommender": "fusionrec.api",
    "compare": "fusionrec.api",
    "evaluate_lists": "fusionrec.api",
    "tune": "fusionrec.api",
    "TuneResult": "fusionrec.api",
    "load_bundle": "fusionrec.serve.recommender",
}
__all__ = [
    "FittedRecommender",
    "TuneResult",
    "__version__",
    "compare",
    "evaluate_lists",
    "fit",
    "load",
    "load_bundle",
    "tune",
]


def __getattr__(name: str) -> object:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'fusionrec' has no attribute {name!r}")
