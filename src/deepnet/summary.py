"""`deepnet summary`: layers, output shapes, parameters, FLOPs and a memory estimate."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from deepnet.core import html
from deepnet.data.batches import rows_per_epoch
from deepnet.data.prepare import normalisation as normalise_mode
from deepnet.data.prepare import prepare
from deepnet.data.sources import load_source
from deepnet.data.transforms import describe_normalisation
from deepnet.nn.build import build_model
from deepnet.nn.layer_type import Row
from deepnet.nn.layers import LAYERS
from deepnet.resources import (
    Memory,
    backward_flops,
    epoch_seconds,
    plan_from_rows,
    positive_int,
    positive_number,
)
from deepnet.spec import Spec
from deepnet.train.network import front_of, needs_encoding

TRAINING_MEMORY = ("parameters", "gradients", "optimizer", "activations", "total")


@dataclass
class Summary:
    layers: list[Row]
    total_params: int
    trainable_params: int
    flops: int  # forward, per sample
    memory: Memory
    input_shape: tuple[int, ...]
    batch_size: int
    flops_backward: int = 0  # per sample
    layer_flops_backward: list[int] | None = None  # per row, per sample
    memory_budget: int | None = None  # bytes, when the largest batch was asked for
    max_batch: int | None = None  # the largest batch whose estimate fits memory_budget
    tflops: float | None = None  # device throughput, when an epoch time was asked for
    train_samples: int | None = None
    normalisation: str | None = None  # how the data's inputs are scaled, when they were read
    epoch_seconds: float | None = None  # compute time of one training epoch at `tflops`
    # layers registered from Python whose activations the memory estimate leaves out
    excluded: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        backward = self.layer_flops_backward or [0] * len(self.layers)
        out = {
            "layers": [
                {"path": r.path, "type": r.type, "output_shape": list(r.output_shape),
                 "params": r.params, "flops": r.flops, "flops_backward": b}
                for r, b in zip(self.layers, backward, strict=True)
            ],
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "flops_backward": self.flops_backward,
            "memory": {k: getattr(self.memory, k) for k in TRAINING_MEMORY},
            "inference_memory": self.memory.inference,
        }
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        if self.epoch_seconds is not None:
            out["epoch_seconds"] = self.epoch_seconds
        if self.excluded:
            out["memory_excludes"] = self.excluded
        if self.normalisation is not None:
            out["normalisation"] = self.normalisation
        return out

    def __repr__(self) -> str:
        return (f"Summary({len(self.layers)} layers, {self.total_params:,} parameters, "
                f"{human(self.flops)} FLOPs per sample, training memory "
                f"{human_bytes(self.memory.total)} at batch {self.batch_size})")

    def _repr_html_(self) -> str:
        backward = self.layer_flops_backward or [0] * len(self.layers)
        rows = [(r.path.removeprefix("model."), r.type, str(tuple(r.output_shape)), f"{r.params:,}",
                 human(r.flops), human(b)) for r, b in zip(self.layers, backward, strict=True)]
        m = self.memory
        facts = {"parameters": f"{self.total_params:,} ({self.trainable_params:,} trainable)",
                 "FLOPs per sample": f"forward {human(self.flops)}, backward "
                                     f"{human(self.flops_backward)}",
                 f"training memory at batch {self.batch_size}":
                     f"{human_bytes(m.total)} (parameters {human_bytes(m.parameters)}, "
                     f"gradients {human_bytes(m.gradients)}, optimizer "
                     f"{human_bytes(m.optimizer)}, activations {human_bytes(m.activations)})",
                 "largest batch in budget": self.max_batch,
                 "epoch compute seconds": self.epoch_seconds,
                 "normalisation": self.normalisation, "note": self.note}
        return html.section(f"input {self.input_shape} per sample, batch {self.batch_size}",
                            html.table(["layer", "type", "output shape", "params", "FLOPs",
                                        "FLOPs bwd"], rows, limit=200), html.pairs(facts))

    @property
    def note(self) -> str | None:
        """What the estimate leaves out, or None."""
        if not self.excluded:
            return None
        return ("the memory estimate excludes the activations of the layers registered in "
                f"Python ({', '.join(self.excluded)}): their parameters, gradients and "
                "optimizer state are counted")

    def render(self, console) -> None:
        """Print a readable table with rich."""
        table = Table(title=f"input {self.input_shape} per sample, batch {self.batch_size}")
        for col, just in (("layer", "left"), ("type", "left"), ("output shape", "left"),
                          ("params", "right"), ("FLOPs", "right"), ("FLOPs bwd", "right")):
            table.add_column(col, justify=just)
        backward = self.layer_flops_backward or [0] * len(self.layers)
        for r, bwd in zip(self.layers, backward, strict=True):
            table.add_row(r.path.removeprefix("model."), r.type, str(tuple(r.output_shape)),
                          f"{r.params:,}", human(r.flops), human(bwd))
        console.print(table)
        m = self.memory
        lines = [
            f"parameters: {self.total_params:,} ({self.trainable_params:,} trainable)   "
            f"FLOPs per sample: forward {human(self.flops)}, backward "
            f"{human(self.flops_backward)}",
            f"training memory at batch {self.batch_size}: {human_bytes(m.total)} "
            f"(parameters {human_bytes(m.parameters)}, gradients {human_bytes(m.gradients)}, "
            f"optimizer {human_bytes(m.optimizer)}, activations {human_bytes(m.activations)})",
            f"inference memory at batch {self.batch_size}: {human_bytes(m.inference)} "
            f"(parameters and the peak of live activations, no gradients)",
        ]
        if self.max_batch is not None:
            fits = (f"the largest batch that fits is {self.max_batch:,}" if self.max_batch
                    else "not even batch 1 fits")
            lines.append(f"memory budget {self.memory_budget:,} bytes "
                         f"({human_bytes(self.memory_budget)}): {fits} "
                         "(by the training-memory estimate)")
        if self.epoch_seconds is not None:
            per_sample = (self.flops + self.flops_backward) / (self.tflops * 1e12)
            lines.append(
                f"at {self.tflops:g} TFLOP/s: {per_sample * 1e6:.3g} us of compute per training "
                f"sample; one epoch of {self.train_samples:,} training samples "
                f"~ {self.epoch_seconds:.3g} s (compute only, at full throughput)")
        if self.normalisation is not None:
            lines.append(f"inputs {self.input_shape} normalised: {self.normalisation}")
        if self.note:
            lines.append(self.note)
        console.print("\n".join(lines))


def _scaled(n: float, step: int, units: tuple[str, ...]) -> str:
    """`n` in the first of `units` (each `step` times the one before) that keeps it
    under `step`, to three significant digits."""
    for unit in units[:-1]:
        if abs(n) < step:
            return f"{n:.3g}{unit}"
        n /= step
    return f"{n:.3g}{units[-1]}"


def human(n: float) -> str:
    """A count: 1.5K, 23M, 4.1G."""
    return _scaled(n, 1000, ("", "K", "M", "G", "T", "P"))


def human_bytes(n: float) -> str:
    """Bytes in powers of 1024: 512 B, 1.5 KiB, 3 GiB."""
    return _scaled(n, 1024, (" B", " KiB", " MiB", " GiB", " TiB", " PiB"))


def summary(spec, batch_size: int | None = None, input_shape=None, *,
            memory_budget: int | None = None, tflops: float | None = None,
            data=None, encoding=None) -> Summary:
    """The Summary of `spec` (a Spec, a dict or a YAML file's path: Spec.coerce) at
    `batch_size` (default: train.batch_size).

    `memory_budget` (bytes) adds the largest batch whose training-memory estimate fits it;
    `tflops` (a device's sustained TFLOP/s) adds a compute-time estimate of one epoch over
    the training split. `data`: the data passed in Python instead of data.source (a
    DataFrame, `(X, y)`, a dict of arrays); `encoding`, with `input_shape`, the data's
    (a run's), when the network depends on it (embedded columns, several inputs). A
    DeepnetError when a number is not positive.
    """
    spec = Spec.coerce(spec, data)
    batch_size = (spec.train.batch_size if batch_size is None
                  else positive_int(batch_size, "batch_size"))
    if memory_budget is not None:
        memory_budget = positive_int(memory_budget, "memory_budget (bytes)")
    if tflops is not None:
        tflops = positive_number(tflops, "tflops (TFLOP/s)")
    prepared = None
    given = None if data is None else load_source(spec.data, spec.task, data)
    layout = needs_encoding(spec) and (input_shape is None or encoding is None)
    if tflops is not None or layout:  # the training split's size, shape and encoding
        prepared = prepare(spec, given)
        encoding = prepared.encoding if encoding is None else encoding
    normalisation = None
    if input_shape is None:
        ds = prepared.dataset if prepared is not None else given or load_source(spec.data)
        input_shape = ds.input_shape
        normalisation = describe_normalisation(normalise_mode(spec.data, ds),
                                               tuple(input_shape))
    front = front_of(spec.model, encoding)
    model, rows = build_model(spec.model.layers, input_shape, spec.seed, front, spec.model.init)
    opt = spec.train.optimizer
    precision = spec.train.precision if spec.train.precision != "auto" else "fp32"
    plan = plan_from_rows(spec.model.layers, input_shape, rows, model, opt.name, precision,
                          opt.momentum, front)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    backward = backward_flops(rows, front)
    s = Summary(rows, total, trainable, sum(r.flops for r in rows), plan.at(batch_size),
                tuple(input_shape), batch_size, sum(backward), backward)
    s.normalisation = normalisation
    s.excluded = [f"{r.path.removeprefix('model.')} ({r.type})" for r in rows
                  if LAYERS[r.type].custom]
    if memory_budget is not None:
        s.memory_budget, s.max_batch = memory_budget, plan.max_batch(memory_budget)
    if tflops is not None:
        s.tflops = tflops
        s.train_samples = rows_per_epoch(len(prepared.splits["train"]), batch_size,
                                         spec.train.drop_last)
        s.epoch_seconds = epoch_seconds(s.flops + s.flops_backward, s.train_samples, tflops)
    return s
