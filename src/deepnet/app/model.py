"""`deepnet.build(spec)`: the untrained network of a spec, on its data's input shape."""

from __future__ import annotations

from torch import nn

from deepnet.data.sources import load_source
from deepnet.nn.build import build_model


def build(spec, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """The untrained network of `spec`, its input shape inferred from the data.

    >>> model = deepnet.build(deepnet.Spec.from_yaml("examples/digits.yaml"))
    """
    if input_shape is None:
        input_shape = load_source(spec.data).input_shape
    return build_model(spec.model.layers, input_shape, spec.seed)[0]
