"""Data layer: readers, cleaning, id mapping and splits. Knows nothing of models."""

from fusionrec.data.cleaning import clean
from fusionrec.data.dataset import Dataset, build_dataset
from fusionrec.data.features import ItemFeatures, ModalityFeatures
from fusionrec.data.registry import load_dataset
from fusionrec.data.split import Split, make_split

__all__ = [
    "Dataset",
    "ItemFeatures",
    "ModalityFeatures",
    "Split",
    "build_dataset",
    "clean",
    "load_dataset",
    "make_split",
]
