"""The one way a spec's network is built on its data: `build_network(model, input_shape,
encoding, seed)`. Where the data's encoding has embedded columns, or the model several
inputs (model.inputs), the network gets a front (deepnet.nn.inputs.Front) that takes each
input's features from the one input tensor by position; the positions come from the
encoding, which is saved with the model, so a trained run is rebuilt the same way."""

from __future__ import annotations

import math

from deepnet.core.errors import SpecError
from deepnet.data.encoding import (
    ArrayEncoding,
    AudioEncoding,
    Encoding,
    TableEncoding,
    column_positions,
)
from deepnet.nn.build import Network, build_model
from deepnet.nn.inputs import Embedded, Front, Part, embedding_dim
from deepnet.nn.layer_type import Row, Shape


def front_of(model, encoding: Encoding | None) -> Front | None:
    """The front of spec section `model` on data of `encoding`; None when the network
    takes its input as it is. Without an encoding (the layer tree only), the front has
    no parts."""
    inputs = getattr(model, "inputs", None)
    if encoding is None:
        return None if inputs is None else Front((), dict(inputs), model.merge)
    table = encoding if isinstance(encoding, TableEncoding) else None
    embedded = table is not None and any(c.type == "embedding" for c in table.columns)
    if inputs is None and not embedded:
        return None
    if isinstance(encoding, ArrayEncoding) and encoding.inputs is not None:
        return _array_front(model, encoding)
    if table is None:
        raise SpecError(f"model.inputs takes the columns of a table or the arrays of an "
                        f".npz; the data are {encoding.kind} data", path="model.inputs")
    names = table.inputs if inputs is not None else {"features": [c.name for c in table.columns]}
    if inputs is not None and (names is None or set(names) != set(inputs)):
        raise SpecError(f"model.inputs declares {', '.join(inputs)}, but the data were "
                        f"encoded for {', '.join(names or ['one input'])}", path="model.inputs")
    at = column_positions(table)
    columns = {c.name: c for c in table.columns}
    parts = []
    for name in (inputs or names):
        numeric, emb = [], []
        for col in names[name]:
            c = columns[col]
            if c.type == "embedding":
                n = len(c.categories) + 1  # the reserved index 0 included
                emb.append(Embedded(at[col][0], n, c.dim or embedding_dim(n)))
            else:
                numeric += at[col]
        parts.append(Part(name, tuple(numeric), tuple(emb)))
    branches = dict(inputs) if inputs is not None else {"features": []}
    return Front(tuple(parts), branches, model.merge)


def _array_front(model, encoding: ArrayEncoding) -> Front:
    """The front of a model whose inputs are arrays of an .npz, packed side by side."""
    if set(encoding.inputs) != set(model.inputs):
        raise SpecError(f"model.inputs declares {', '.join(model.inputs)}, but the data were "
                        f"encoded for {', '.join(encoding.inputs)}", path="model.inputs")
    at, width = {}, 0
    for name, a in encoding.inputs.items():
        size = math.prod(a.shape)
        at[name] = (tuple(range(width, width + size)), tuple(a.shape))
        width += size
    parts = tuple(Part(name, at[name][0], shape=at[name][1]) for name in model.inputs)
    return Front(parts, dict(model.inputs), model.merge)


def build_network(model, input_shape: Shape, encoding: Encoding | None = None,
                  seed: int = 0) -> tuple[Network, list[Row]]:
    """(network, summary rows) of spec section `model` on per-sample `input_shape` of
    data with `encoding` (deepnet.nn.build.build_model)."""
    if isinstance(encoding, AudioEncoding):
        _check_rates(model.layers, encoding)
    return build_model(model.layers, input_shape, seed, front_of(model, encoding), model.init)


def _check_rates(layers, encoding: AudioEncoding) -> None:
    """A logmel layer reads its frequencies at the data's sample rate or not at all."""
    for i, item in enumerate(layers):
        args = getattr(item, "logmel", None)
        if args is not None and args.sample_rate != encoding.sample_rate:
            raise SpecError(f"model.layers[{i}].logmel.sample_rate is {args.sample_rate} Hz, "
                            f"but the sound is read at {encoding.sample_rate} Hz "
                            "(data.audio.sample_rate): make them equal",
                            path=f"model.layers[{i}].logmel.sample_rate")


def needs_encoding(spec) -> bool:
    """Whether the network of `spec` depends on its data's encoding beyond the shape:
    several inputs, or embedded columns (data.categorical, or data.interactions, which
    embeds the user and item columns)."""
    return spec.model.inputs is not None or spec.data.interactions is not None or any(
        not isinstance(k, str) or k == "embedding" for k in spec.data.categorical.values())


def data_layout(spec, given=None) -> tuple[Shape, Encoding]:
    """(per-sample input shape, encoding) of the spec's data (or the data `given` in
    Python) as training sees them: split, with what is fitted on the training split
    (the categories of embedded columns) fitted."""
    from deepnet.data.prepare import prepare

    prepared = prepare(spec, given=given)
    return tuple(prepared.dataset.input_shape), prepared.encoding
