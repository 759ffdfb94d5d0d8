"""The cold-start protocol of a dataset's ``cold-items`` split.

``fusionrec.evaluate`` works on interaction matrices only; turning a ``Dataset`` and its
``Split`` into those matrices belongs here, where data meets evaluation.
"""

from __future__ import annotations

from fusionrec.data import Dataset, Split
from fusionrec.data.split import TEST, TRAIN, VALID
from fusionrec.errors import ConfigError
from fusionrec.evaluate.cold_start import ColdStartProtocol


def cold_start_protocol(
    dataset: Dataset, split: Split, *, ks: tuple[int, ...] = (10, 20, 50)
) -> ColdStartProtocol:
    """Validation and test evaluators that rank only the items ``split`` withheld."""
    if split.cold_items is None:
        raise ConfigError(
            "split.method: the cold-start protocol needs a 'cold-items' split, "
            f"got '{split.method}'"
        )
    train, valid, test = (split.matrix(dataset, p) for p in (TRAIN, VALID, TEST))
    return ColdStartProtocol.from_matrices(train, valid, test, ks=ks)
