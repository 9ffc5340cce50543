"""The layer registry: each layer type is a pydantic model of its arguments and a plain
builder function `build(args, in_shape, ctx) -> Built` that infers the output shape.

Shapes are per sample, without the batch axis: images (channels, height, width),
sequences (time, features), tables (features,), token ids (time,).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)
from torch import nn

from deepnet.core.errors import SpecError, choose
from deepnet.nn import activations
from deepnet.nn.init import INITS, initialise

Shape = tuple[int, ...]
PositiveInt = Annotated[int, Field(gt=0)]


# ----------------------------------------------------------------------------- arguments
class Args(BaseModel):
    """Arguments of one layer type. A scalar or list alone gives the main argument."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    main: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _main_argument(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict | BaseModel):
            return value
        if cls.main is None:
            raise ValueError(f"this layer takes no main argument; got {value!r}, write {{}}")
        return {cls.main: value}


def _check_activation(name: str) -> str:
    choose("activation", name, activations.ACTIVATIONS)
    return name


def _check_init(name: str | None) -> str | None:
    if name is not None:
        choose("init", name, INITS)
    return name


class _Activated(Args):
    activation: str = "linear"
    init: str | None = None
    _a = field_validator("activation")(classmethod(lambda cls, v: _check_activation(v)))
    _i = field_validator("init")(classmethod(lambda cls, v: _check_init(v)))


class DenseArgs(_Activated):
    main: ClassVar[str] = "units"
    units: PositiveInt
    bias: bool = True


class ConvArgs(_Activated):
    main: ClassVar[str] = "filters"
    filters: PositiveInt
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    padding: Literal["same", "valid"] | Annotated[int, Field(ge=0)] = "same"


class PoolArgs(Args):
    main: ClassVar[str] = "size"
    size: PositiveInt = 2
    stride: PositiveInt | None = None


class NoArgs(Args):
    pass


class ReshapeArgs(Args):
    main: ClassVar[str] = "shape"
    shape: list[int] = Field(min_length=1)


class EmbeddingArgs(Args):
    main: ClassVar[str] = "vocab"
    vocab: PositiveInt
    dim: PositiveInt = 32


class RecurrentArgs(Args):
    main: ClassVar[str] = "units"
    units: PositiveInt
    bidirectional: bool = False
    return_sequences: bool = False


class AttentionArgs(Args):
    main: ClassVar[str] = "heads"
    heads: PositiveInt = 1


class TransformerArgs(Args):
    main: ClassVar[str] = "heads"
    heads: PositiveInt = 1
    ff_units: PositiveInt | None = None  # default: 4 x the feature size
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0


class DropoutArgs(Args):
    main: ClassVar[str] = "rate"
    rate: Annotated[float, Field(ge=0, lt=1)] = 0.5


class ActivationArgs(Args):
    main: ClassVar[str] = "name"
    name: str
    _n = field_validator("name")(classmethod(lambda cls, v: _check_activation(v)))


class ResidualArgs(Args):
    main: ClassVar[str] = "layers"
    layers: list[LayerItem] = Field(min_length=1)


class RepeatArgs(Args):
    main: ClassVar[str] = "times"
    times: PositiveInt
    layers: list[LayerItem] = Field(min_length=1)


# ----------------------------------------------------------------------------- building
@dataclass
class Row:
    """One line of the summary: a layer of the spec after `repeat` is expanded."""

    path: str
    type: str
    output_shape: Shape
    params: int
    flops: int


@dataclass
class Context:
    """What builders share: the seeded generator, the summary rows, and how to build a
    nested list of layers (for residual and repeat)."""

    generator: torch.Generator
    build_layers: Callable[[list, Shape, str], tuple[nn.Module, Shape]]
    rows: list[Row] = field(default_factory=list)


@dataclass
class Built:
    module: nn.Module
    shape: Shape
    flops: int = 0  # forward, per sample


def shape_error(path: str, layer: str, got: Shape, expected: str) -> SpecError:
    return SpecError(
        f"{path}: {layer} cannot take input of shape {_fmt(got)} (per sample); "
        f"it expects {expected}. Add a flatten/reshape layer before it or change its arguments."
    )


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _need_rank(path: str, layer: str, shape: Shape, ranks: tuple[int, ...], expected: str):
    if len(shape) not in ranks:
        raise shape_error(path, layer, shape, expected)


class WithActivation(nn.Module):
    """An affine operation (linear or convolution) followed by its activation."""

    def __init__(self, op: nn.Module, activation: str):
        super().__init__()
        self.op = op
        self.act = activations.get(activation)

    def forward(self, x):
        return self.act(self.op(x))


class TimeMajor(nn.Module):
    """Runs a channels-first 1-d module on (batch, time, features) sequences."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.transpose(1, 2)).transpose(1, 2)


class Recurrent(nn.Module):
    def __init__(self, rnn: nn.LSTM | nn.GRU, return_sequences: bool):
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x):
        out, _ = self.rnn(x)
        if self.return_sequences:
            return out
        if not self.rnn.bidirectional:
            return out[:, -1]
        h = self.rnn.hidden_size  # the backward direction ends at the first step
        return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class GlobalAvgPool(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.mean(dim=self.dims)


class Reshape(nn.Module):
    def __init__(self, shape: Shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def _dense(a: DenseArgs, s: Shape, path: str, ctx: Context) -> Built:
    _need_rank(path, "dense", s, (1, 2), "(features,) or (time, features)")
    lin = nn.Linear(s[-1], a.units, bias=a.bias)
    initialise(lin, a.init, a.activation, ctx.generator)
    steps = s[0] if len(s) == 2 else 1
    return Built(WithActivation(lin, a.activation), (*s[:-1], a.units), 2 * steps * s[-1] * a.units)


def _padding(a: ConvArgs) -> int | str:
    if a.padding == "same":
        return "same" if a.stride == 1 else (a.kernel - 1) // 2
    return 0 if a.padding == "valid" else a.padding


def _conv_out(n: int, a: ConvArgs) -> int:
    pad = _padding(a)
    if pad == "same":
        return n
    return (n + 2 * pad - a.kernel) // a.stride + 1


def _conv2d(a: ConvArgs, s: Shape, path: str, ctx: Context) -> Built:
    _need_rank(path, "conv2d", s, (3,), "(channels, height, width)")
    h, w = _conv_out(s[1], a), _conv_out(s[2], a)
    if h < 1 or w < 1:
        raise shape_error(path, "conv2d", s, f"height and width of at least {a.kernel}")
    conv = nn.Conv2d(s[0], a.filters, a.kernel, a.stride, _padding(a))
    initialise(conv, a.init, a.activation, ctx.generator)
    flops = 2 * s[0] * a.kernel * a.kernel * a.filters * h * w
    return Built(WithActivation(conv, a.activation), (a.filters, h, w), flops)


def _conv1d(a: ConvArgs, s: Shape, path: str, ctx: Context) -> Built:
    _need_rank(path, "conv1d", s, (2,), "(time, features)")
    t = _conv_out(s[0], a)
    if t < 1:
        raise shape_error(path, "conv1d", s, f"at least {a.kernel} time steps")
    conv = nn.Conv1d(s[1], a.filters, a.kernel, a.stride, _padding(a))
    initialise(conv, a.init, a.activation, ctx.generator)
    flops = 2 * s[1] * a.kernel * a.filters * t
    return Built(TimeMajor(WithActivation(conv, a.activation)), (t, a.filters), flops)


def _pool(kind: str, dims: int, cls: type[nn.Module]):
    def build(a: PoolArgs, s: Shape, path: str, ctx: Context) -> Built:
        stride = a.stride or a.size
        expected = "(channels, height, width)" if dims == 2 else "(time, features)"
        _need_rank(path, kind, s, (dims + 1,), expected)
        spatial = s[1:] if dims == 2 else s[:1]
        out = tuple((n - a.size) // stride + 1 for n in spatial)
        if min(out) < 1:
            raise shape_error(path, kind, s, f"spatial sizes of at least {a.size}")
        if dims == 2:
            return Built(cls(a.size, stride), (s[0], *out), math.prod((s[0], *out)) * a.size**2)
        return Built(TimeMajor(cls(a.size, stride)), (out[0], s[1]), out[0] * s[1] * a.size)

    return build


def _globalavgpool(a: NoArgs, s: Shape, path: str, ctx: Context) -> Built:
    _need_rank(path, "globalavgpool", s, (2, 3), "(time, features) or (channels, height, width)")
    dims = (2, 3) if len(s) == 3 else (1,)
    return Built(GlobalAvgPool(dims), (s[0],) if len(s) == 3 else (s[1],), math.prod(s))


def _flatten(a: NoArgs, s: Shape, path: str, ctx: Context) -> Built:
    return Built(nn.Flatten(), (math.prod(s),))


def _reshape(a: ReshapeArgs, s: Shape, path: str, ctx: Context) -> Built:
    shape, total = list(a.shape), math.prod(s)
    if shape.count(-1) == 1:
        known = -math.prod(shape)
        if known > 0 and total % known == 0:
            shape[shape.index(-1)] = total // known
    if any(n < 1 for n in shape) or math.prod(shape) != total:
        raise shape_error(path, "reshape", s, f"{math.prod(s)} values to fit shape {a.shape}")
    return Built(Reshape(tuple(shape)), tuple(shape))


def _embedding(a: EmbeddingArgs, s: Shape, path: str, ctx: Context) -> Built:
    _need_rank(path, "embedding", s, (1,), "token ids of shape (time,)")
    emb = nn.Embedding(a.vocab, a.dim)
    nn.init.normal_(emb.weight, generator=ctx.generator)
    return Built(emb, (s[0], a.dim))


def _recurrent(kind: str, cls: type[nn.LSTM] | type[nn.GRU], gates: int):
    def build(a: RecurrentArgs, s: Shape, path: str, ctx: Context) -> Built:
        _need_rank(path, kind, s, (2,), "(time, features)")
        rnn = cls(s[1], a.units, batch_first=True, bidirectional=a.bidirectional)
        initialise(rnn, None, "tanh", ctx.generator)
        dirs = 2 if a.bidirectional else 1
        out = (s[0], dirs * a.units) if a.return_sequences else (dirs * a.units,)
        flops = 2 * s[0] * dirs * gates * a.units * (s[1] + a.units)
        return Built(Recurrent(rnn, a.return_sequences), out, flops)

    return build


def _attention_flops(t: int, d: int) -> int:
    return 2 * t * d * d * 4 + 2 * 2 * t * t * d  # q, k, v, out projections; scores; mix


def _check_heads(path: str, layer: str, s: Shape, heads: int):
    _need_rank(path, layer, s, (2,), "(time, features)")
    if s[1] % heads:
        raise shape_error(path, layer, s, f"a feature size divisible by heads={heads}")


def _attention(a: AttentionArgs, s: Shape, path: str, ctx: Context) -> Built:
    _check_heads(path, "attention", s, a.heads)
    layer = SelfAttention(s[1], a.heads)
    initialise(layer, None, "linear", ctx.generator)
    return Built(layer, s, _attention_flops(*s))


def _transformer(a: TransformerArgs, s: Shape, path: str, ctx: Context) -> Built:
    _check_heads(path, "transformer", s, a.heads)
    ff = a.ff_units or 4 * s[1]
    layer = nn.TransformerEncoderLayer(s[1], a.heads, ff, a.dropout, batch_first=True)
    initialise(layer, None, "relu", ctx.generator)
    return Built(layer, s, _attention_flops(*s) + 2 * 2 * s[0] * s[1] * ff)


def _norm(kind: str):
    def build(a: NoArgs, s: Shape, path: str, ctx: Context) -> Built:
        _need_rank(path, kind, s, (1, 2, 3), "(features,), (time, features) or an image")
        if kind == "layernorm":  # over the features; over the whole sample for images
            return Built(nn.LayerNorm(list(s) if len(s) == 3 else s[-1]), s, 5 * math.prod(s))
        if len(s) == 2:
            return Built(TimeMajor(nn.BatchNorm1d(s[1])), s, 2 * math.prod(s))
        norm = nn.BatchNorm2d(s[0]) if len(s) == 3 else nn.BatchNorm1d(s[0])
        return Built(norm, s, 2 * math.prod(s))

    return build


def _dropout(a: DropoutArgs, s: Shape, path: str, ctx: Context) -> Built:
    return Built(nn.Dropout(a.rate), s)


def _activation(a: ActivationArgs, s: Shape, path: str, ctx: Context) -> Built:
    return Built(activations.get(a.name), s, math.prod(s))


def _residual(a: ResidualArgs, s: Shape, path: str, ctx: Context) -> Built:
    body, out = ctx.build_layers(a.layers, s, f"{path}.residual.layers")
    if out != s:
        raise SpecError(
            f"{path}.residual: the layers inside a residual must keep the shape, "
            f"but they turn {_fmt(s)} into {_fmt(out)}; make the last one output {_fmt(s)}"
        )
    return Built(Residual(body), s, math.prod(s))


def _repeat(a: RepeatArgs, s: Shape, path: str, ctx: Context) -> Built:
    blocks = []
    for r in range(a.times):
        block, s = ctx.build_layers(a.layers, s, f"{path}.repeat[{r}].layers")
        blocks.append(block)
    return Built(nn.Sequential(*blocks), s)


@dataclass(frozen=True)
class LayerType:
    args: type[Args]
    build: Callable[[Any, Shape, str, Context], Built]
    container: bool = False  # residual/repeat: their rows come from the layers inside


LAYERS: dict[str, LayerType] = {
    "dense": LayerType(DenseArgs, _dense),
    "conv1d": LayerType(ConvArgs, _conv1d),
    "conv2d": LayerType(ConvArgs, _conv2d),
    "maxpool1d": LayerType(PoolArgs, _pool("maxpool1d", 1, nn.MaxPool1d)),
    "maxpool2d": LayerType(PoolArgs, _pool("maxpool2d", 2, nn.MaxPool2d)),
    "avgpool2d": LayerType(PoolArgs, _pool("avgpool2d", 2, nn.AvgPool2d)),
    "globalavgpool": LayerType(NoArgs, _globalavgpool),
    "flatten": LayerType(NoArgs, _flatten),
    "reshape": LayerType(ReshapeArgs, _reshape),
    "embedding": LayerType(EmbeddingArgs, _embedding),
    "lstm": LayerType(RecurrentArgs, _recurrent("lstm", nn.LSTM, 4)),
    "gru": LayerType(RecurrentArgs, _recurrent("gru", nn.GRU, 3)),
    "attention": LayerType(AttentionArgs, _attention),
    "transformer": LayerType(TransformerArgs, _transformer),
    "batchnorm": LayerType(NoArgs, _norm("batchnorm")),
    "layernorm": LayerType(NoArgs, _norm("layernorm")),
    "dropout": LayerType(DropoutArgs, _dropout),
    "activation": LayerType(ActivationArgs, _activation),
    "residual": LayerType(ResidualArgs, _residual, container=True),
    "repeat": LayerType(RepeatArgs, _repeat, container=True),
}


def get(name: str) -> LayerType:
    """The registered layer type `name`; ValueError listing the valid names."""
    return choose("layer type", name, LAYERS)


# ----------------------------------------------------------------------------- the spec item
def layer_name(item: Any) -> str | None:
    """The layer type of one `{type: args}` item, or None when it is not of that form."""
    if isinstance(item, dict) and len(item) == 1:
        return str(next(iter(item)))
    if isinstance(item, BaseModel):
        return next(iter(type(item).model_fields))
    return None


def _item_model(name: str) -> type[BaseModel]:
    model = create_model(
        f"{name.title()}Layer",
        __config__=ConfigDict(extra="forbid", frozen=True),
        **{name: (LAYERS[name].args, ...)},
    )
    return model


ITEM_MODELS = {name: _item_model(name) for name in LAYERS}

LayerItem = Annotated[
    Union[tuple(Annotated[m, Tag(n)] for n, m in ITEM_MODELS.items())],  # noqa: UP007
    Discriminator(layer_name),
]

ResidualArgs.model_rebuild()
RepeatArgs.model_rebuild()
for _m in ITEM_MODELS.values():
    _m.model_rebuild()


def item_parts(item: BaseModel) -> tuple[str, Args]:
    """(type name, arguments) of a validated layer item."""
    name = layer_name(item)
    return name, getattr(item, name)
