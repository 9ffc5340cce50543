"""Networks from the spec: the layer registry, the builder and the summary."""

from deepnet.nn.build import build, build_model
from deepnet.nn.summary import Summary, summary

__all__ = ["Summary", "build", "build_model", "summary"]
