"""Memory and compute estimates, before any run.

Training memory = parameters + gradients + optimizer state + activations. *Activations*
are the tensors autograd saves for backward during one training-mode forward pass: every
distinct storage handed to `torch.autograd.graph.saved_tensors_hooks`, counted once, the
input batch included when a layer keeps it. Parameter and buffer storages that autograd
also saves (a weight kept for the input gradient, batch-norm running statistics) are *not*
activations: they are model state, counted under `parameters` (buffers not at all).
`measure_memory` measures exactly that; `estimate_memory` computes it from the spec with
each layer type's cost model (`LayerType.saves`, added up by deepnet.nn.saved), without
running anything.

Parameters, gradients and optimizer state are fp32 whatever the precision; bf16/fp16
(autocast) halve the activations and add the half-precision weight copies autocast keeps
(an approximation: the activation figures are checked against PyTorch's CPU kernels at
fp32; CUDA kernels keep slightly different buffers, e.g. 1-byte dropout masks).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from deepnet.core.errors import DeepnetError
from deepnet.nn.build import build_model
from deepnet.nn.inputs import Inputs
from deepnet.nn.layer_type import Row, Shape
from deepnet.nn.layers import LAYERS
from deepnet.nn.saved import Activations, saved_activations
from deepnet.nn.tree import FRONT
from deepnet.spec import Optimizer, Spec
from deepnet.train.network import data_layout, front_of, needs_encoding
from deepnet.train.optim import OPTIMIZERS, make_optimizer

DEFAULT_OPTIMIZER: str = Optimizer.model_fields["name"].default  # the spec's default

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass
class Memory:
    """Bytes for one training step at a batch size. `inference` is the parameters plus the
    peak of live activations in a no-grad forward at that batch size (0 when measured)."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    total: int
    inference: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def positive_int(value, name: str) -> int:
    """`value` when it is an integer of at least 1; a DeepnetError naming `name` else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DeepnetError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def positive_number(value, name: str) -> float:
    """`value` when it is a finite real number above 0; a DeepnetError naming `name` else."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0 < value < math.inf):
        raise DeepnetError(f"{name} must be a positive number; got {value!r}")
    return float(value)


def optimizer_state_factor(name: str, momentum: float = 0.0) -> int:
    """Optimizer state in parameter-sized tensors (train.optim.OPTIMIZERS): sgd 0 (1 with
    momentum), adam/adamw 2, rmsprop 1 (2 with momentum)."""
    try:
        return OPTIMIZERS.get(name).state_factor(momentum)
    except ValueError as e:
        raise DeepnetError(str(e)) from None


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class MemoryPlan:
    """The estimate as a function of the batch size: fixed model state plus activations,
    linear in the batch (up to the page rounding of oneDNN's RNN workspaces)."""

    parameters: int
    gradients: int
    optimizer: int
    activations: Activations

    def at(self, batch_size: int) -> Memory:
        """The Memory of one training step at `batch_size`."""
        acts = self.activations.at(batch_size)
        total = self.parameters + self.gradients + self.optimizer + acts
        peak = math.ceil(batch_size * self.activations.peak)
        return Memory(self.parameters, self.gradients, self.optimizer, acts, total,
                      self.parameters + peak)

    def max_batch(self, budget: int) -> int:
        """The largest batch whose training memory fits `budget` bytes (0: none does).
        Solved from the per-sample slope, then checked against the estimate itself."""
        if self.at(1).total > budget:
            return 0
        slope = self.activations.per_sample + sum(self.activations.paged)
        if slope <= 0:
            raise DeepnetError("this network keeps no activations: every batch size fits")
        batch = max(1, int((budget - self.at(0).total) // slope))
        while self.at(batch).total > budget:  # page rounding only ever adds a few pages
            batch -= 1
        while self.at(batch + 1).total <= budget:
            batch += 1
        return batch


def _element_bytes(precision: str) -> int:
    if precision not in BYTES:
        raise DeepnetError(f"unknown precision {precision!r}; valid: {', '.join(BYTES)}")
    return BYTES[precision]


def _state(model: nn.Module, optimizer: str, momentum: float) -> tuple[int, int, int]:
    """(parameter, gradient, optimizer-state) bytes; master weights stay fp32."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    factor = optimizer_state_factor(optimizer, momentum)
    return 4 * sum(p.numel() for p in model.parameters()), 4 * trainable, 4 * trainable * factor


def plan_from_rows(layers: Sequence, input_shape: Shape, rows: Sequence[Row],
                   model: nn.Module, optimizer: str = DEFAULT_OPTIMIZER, precision: str = "fp32",
                   momentum: float = 0.0, front=None) -> MemoryPlan:
    """The MemoryPlan of validated spec `layers` (behind `front`, deepnet.nn.inputs),
    already built into `model` and `rows`."""
    acts = saved_activations(layers, input_shape, rows, _element_bytes(precision), front)
    return MemoryPlan(*_state(model, optimizer, momentum), acts)


def plan_memory(spec_or_model, input_shape: Shape, optimizer: str = DEFAULT_OPTIMIZER,
                precision: str = "fp32", momentum: float = 0.0, encoding=None) -> MemoryPlan:
    """The MemoryPlan of a spec (on data of `encoding`, when its network depends on
    it: deepnet.train.network); or of any nn.Module, whose layers deepnet cannot read
    from a spec, so its activations are measured at two small batches and extrapolated."""
    if isinstance(spec_or_model, nn.Module):
        return _measured_plan(spec_or_model, input_shape, optimizer, precision, momentum)
    spec = Spec.coerce(spec_or_model)
    if encoding is None and needs_encoding(spec):
        encoding = data_layout(spec)[1]
    front = front_of(spec.model, encoding)
    model, rows = build_model(spec.model.layers, input_shape, spec.seed, front, spec.model.init)
    return plan_from_rows(spec.model.layers, input_shape, rows, model, optimizer, precision,
                          momentum, front)


def estimate_memory(spec_or_model, input_shape: Shape, batch_size: int,
                    optimizer: str = DEFAULT_OPTIMIZER, precision: str = "fp32",
                    momentum: float = 0.0, encoding=None) -> Memory:
    """Bytes for one training step, before any run: parameters, gradients, optimizer state,
    the activations autograd keeps for backward, their total, and the inference memory.

    >>> m = deepnet.estimate_memory(spec, (1, 8, 8), batch_size=64)
    >>> m.total, m.activations, m.inference
    """
    batch_size = positive_int(batch_size, "batch size")
    return plan_memory(spec_or_model, input_shape, optimizer, precision, momentum,
                       encoding).at(batch_size)


# ----------------------------------------------------------------------------- measuring
def example_input(model: nn.Module, input_shape: Shape, batch_size: int) -> torch.Tensor:
    """A seeded random batch for `model`: token ids when its first layer is an embedding;
    features with category codes where a front (deepnet.nn.inputs) looks codes up."""
    g = torch.Generator().manual_seed(0)
    front = next((m for m in model.modules() if isinstance(m, Inputs)), None)
    if front is not None:
        x = torch.randn(batch_size, *input_shape, generator=g)
        for part in front.parts:
            for column, emb in zip(part.columns, part.embeddings, strict=True):
                x[:, column] = torch.randint(emb.num_embeddings, (batch_size,), generator=g)
        return x
    first = next(m for m in model.modules() if not list(m.children()))
    if isinstance(first, nn.Embedding):
        return torch.randint(first.num_embeddings, (batch_size, *input_shape), generator=g)
    return torch.randn(batch_size, *input_shape, generator=g)


def saved_bytes(model: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(bytes of the distinct storages autograd saves during `model(x)`, the output);
    parameter and buffer storages are left out (see the module docstring)."""
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in state:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    return sum(kept.values()), out


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def measure_memory(model: nn.Module, input_shape: Shape, batch_size: int,
                   optimizer: str = DEFAULT_OPTIMIZER, momentum: float = 0.0) -> Memory:
    """Measured on a copy of `model` at fp32: the activations of one training-mode forward
    (`saved_bytes`), then parameter, gradient and optimizer-state bytes after one step."""
    model = copy.deepcopy(model).train()
    opt = make_optimizer(model.parameters(), Optimizer(name=optimizer, momentum=momentum))
    acts, out = saved_bytes(model, example_input(model, input_shape, batch_size))
    out.float().square().mean().backward()
    opt.step()
    params = sum(_nbytes(p) for p in model.parameters())
    grads = sum(_nbytes(p.grad) for p in model.parameters() if p.grad is not None)
    state = sum(_nbytes(v) for s in opt.state.values() for v in s.values()
                if isinstance(v, torch.Tensor))
    return Memory(params, grads, state, acts, params + grads + state + acts)


def _measured_plan(model: nn.Module, input_shape: Shape, optimizer: str, precision: str,
                   momentum: float) -> MemoryPlan:
    if precision != "fp32":
        raise DeepnetError(f"a plain nn.Module is estimated at fp32 only, not {precision}; "
                           "pass the spec instead")
    model = copy.deepcopy(model).train()
    small, large = (saved_bytes(model, example_input(model, input_shape, b))[0] for b in (2, 10))
    slope = (large - small) / 8
    x = example_input(model, input_shape, 1)
    largest = [0]

    def hook(module: nn.Module, inputs, output) -> None:  # a leaf's input and output
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        largest[0] = max(largest[0], sum(_nbytes(t) for t in tensors))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    acts = Activations(slope, small - 2 * slope, (), largest[0] + _nbytes(x))
    return MemoryPlan(*_state(model, optimizer, momentum), acts)


# ----------------------------------------------------------------------------- sizes, FLOPs
def backward_flops(rows: Sequence[Row], front=None) -> list[int]:
    """Backward FLOPs per sample of each summary row, by its layer type's `backward`
    (given its forward FLOPs, whether it has weights, and whether its input needs a
    gradient: some earlier layer has weights). The layers of each input of a `front`
    (deepnet.nn.inputs) start from that input's features, which need a gradient when
    they include embeddings."""
    parts = {p.name: bool(p.embedded) for p in front.parts} if front is not None else {}
    grad, out, branch = False, [], {}
    for r in rows:
        name = r.path.removeprefix(FRONT + ".").split("[")[0]
        inside = r.path.startswith(FRONT + ".") and name in parts
        before = branch.get(name, parts.get(name, False)) if inside else grad
        weights = r.params > 0
        out.append(LAYERS[r.type].backward(r.flops, weights, before))
        if inside:
            branch[name] = before or weights
        else:
            grad = before or weights or (r.path == FRONT and any(branch.values()))
    return out


def epoch_seconds(flops_per_sample: float, samples: int, tflops: float) -> float:
    """Compute time of one training epoch at a sustained `tflops` TFLOP/s."""
    return flops_per_sample * samples / (tflops * 1e12)
