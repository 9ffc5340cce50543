"""`deepnet summary`: layers, output shapes, parameters, FLOPs and a memory estimate."""

from __future__ import annotations

from dataclasses import dataclass

from deepnet.nn.layers import Row
from deepnet.resources import Memory


@dataclass
class Summary:
    layers: list[Row]
    total_params: int
    trainable_params: int
    flops: int  # forward, per sample
    memory: Memory
    input_shape: tuple[int, ...]
    batch_size: int

    def to_dict(self) -> dict:
        return {
            "layers": [
                {"path": r.path, "type": r.type, "output_shape": list(r.output_shape),
                 "params": r.params}
                for r in self.layers
            ],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "memory": self.memory.to_dict(),
        }

    def render(self, console) -> None:
        """Print a readable table with rich."""
        from rich.table import Table

        table = Table(title=f"input {self.input_shape} per sample, batch {self.batch_size}")
        for col, just in (("layer", "left"), ("type", "left"), ("output shape", "left"),
                          ("params", "right"), ("FLOPs", "right")):
            table.add_column(col, justify=just)
        for r in self.layers:
            table.add_row(r.path.removeprefix("model."), r.type, str(tuple(r.output_shape)),
                          f"{r.params:,}", human(r.flops))
        console.print(table)
        m = self.memory
        console.print(
            f"parameters: {self.total_params:,} ({self.trainable_params:,} trainable)   "
            f"forward FLOPs per sample: {human(self.flops)}\n"
            f"training memory at batch {self.batch_size}: {human_bytes(m.total)} "
            f"(parameters {human_bytes(m.parameters)}, gradients {human_bytes(m.gradients)}, "
            f"optimizer {human_bytes(m.optimizer)}, activations {human_bytes(m.activations)})"
        )


def human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}P"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


def summary(spec, batch_size: int | None = None, input_shape=None) -> Summary:
    """The Summary of `spec` at `batch_size` (default: train.batch_size)."""
    from deepnet.nn.build import build_with_rows
    from deepnet.resources import estimate_memory

    if input_shape is None:
        from deepnet.data import load_source

        input_shape = load_source(spec.data).input_shape
    model, rows = build_with_rows(spec, input_shape)
    batch_size = batch_size or spec.train.batch_size
    opt = spec.train.optimizer
    memory = estimate_memory(model, rows, input_shape, batch_size, opt.name, opt.momentum)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Summary(rows, total, trainable, sum(r.flops for r in rows), memory,
                   tuple(input_shape), batch_size)
