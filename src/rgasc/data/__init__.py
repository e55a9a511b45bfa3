"""Datasets in the DCASE layout, their downloads, and the synthetic corpus."""

from rgasc.data.datasets import Clip, DcaseDataset, clip_key, location_split

__all__ = ["Clip", "DcaseDataset", "clip_key", "location_split"]
