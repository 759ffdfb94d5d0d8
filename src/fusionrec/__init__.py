"""fusionrec: multimodal recommendation from raw content."""

__version__ = "0.1.0"
