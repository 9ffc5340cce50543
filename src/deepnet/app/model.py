"""`deepnet.build(spec)`: the untrained network of a spec, on its data's input shape."""

from __future__ import annotations

from torch import nn

from deepnet.data.sources import load_source
from deepnet.spec import Spec
from deepnet.train.network import build_network, data_layout, needs_encoding


def build(spec, input_shape: tuple[int, ...] | None = None, data=None) -> nn.Module:
    """The untrained network of `spec` (a Spec, a dict or a YAML file's path), its input
    shape inferred from the data (data.source, or `data` passed in Python).

    >>> model = deepnet.build(deepnet.Spec.from_yaml("examples/digits.yaml"))
    """
    spec = Spec.coerce(spec, data)
    encoding = None
    if needs_encoding(spec):
        shape, encoding = data_layout(spec, data)
        input_shape = shape if input_shape is None else input_shape
    elif input_shape is None:
        input_shape = load_source(spec.data, spec.task, data).input_shape
    return build_network(spec.model, input_shape, encoding, spec.seed)[0]
