"""Data in: sources, checks, splits and preprocessing."""

from deepnet.data.sources import Dataset, load_source

__all__ = ["Dataset", "load_source"]
