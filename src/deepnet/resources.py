"""Memory and compute estimates, before any run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from torch import nn

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# Optimizer state per parameter, in parameter-sized tensors.
OPTIMIZER_STATE = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2, "rmsprop": 1,
                   "rmsprop_momentum": 2}


@dataclass
class Memory:
    """Bytes needed for one training step at a batch size."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    total: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def optimizer_state_factor(name: str, momentum: float = 0.0) -> int:
    key = f"{name}_momentum" if momentum and f"{name}_momentum" in OPTIMIZER_STATE else name
    return OPTIMIZER_STATE[key]


def estimate_memory(model: nn.Module, rows, input_shape, batch_size: int,
                    optimizer: str = "adam", momentum: float = 0.0) -> Memory:
    """A first estimate: parameters, gradients and optimizer state from the parameter
    count; activations as every layer's input kept for backward, at fp32."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = 4 * sum(p.numel() for p in model.parameters())
    grads = 4 * n
    opt = 4 * n * optimizer_state_factor(optimizer, momentum)
    sizes = [math.prod(input_shape)] + [math.prod(r.output_shape) for r in rows[:-1]]
    acts = 4 * batch_size * sum(sizes)
    return Memory(params, grads, opt, acts, params + grads + opt + acts)
