"""Honest evaluation: full ranking, training items masked, metrics as in MMRec."""

from fusionrec.evaluate.evaluator import Evaluator, topk_lower_index_first
from fusionrec.evaluate.masking import mask_seen
from fusionrec.evaluate.metrics import METRICS, block_metrics

__all__ = ["METRICS", "Evaluator", "block_metrics", "mask_seen", "topk_lower_index_first"]
