"""The learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's
lr_find): train from the initial weights one batch per step while the learning rate
grows exponentially from `start` to `end`, record the loss, and stop once it has blown
up. The suggestion is the rate at the smoothed loss's minimum divided by 10 (fastai's
`minimum` rule): the loss still falls fastest there, a decade below where it stops
falling."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch

from deepnet.train.trainer import Trainer, _step

BETA = 0.98  # the smoothing of the loss: an exponential moving average, bias-corrected
BLOW_UP = 4.0  # stop when the smoothed loss exceeds this many times its minimum
RULE = "the rate at the smoothed loss's minimum / 10"


@dataclass
class RangeTest:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggested: float | None = None
    minimum: float | None = None  # the rate at the smoothed loss's minimum
    stopped: str = "the sweep ended"  # or: the loss blew up at ...
    rule: str = RULE

    def to_dict(self) -> dict:
        return {"suggested": self.suggested, "minimum": self.minimum, "rule": self.rule,
                "stopped": self.stopped, "steps": len(self.lrs),
                "lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed}


def rate(start: float, end: float, steps: int, i: int) -> float:
    return start * (end / start) ** (i / max(steps - 1, 1))


def range_test(t: Trainer, steps: int, start: float, end: float,
               on_step=None) -> RangeTest:
    """Sweep `t` (fresh weights, its optimizer; no schedule) over `steps` batches."""
    out = RangeTest()
    params = [p for p in t.model.parameters() if p.requires_grad]
    sums = torch.zeros(len(params), device=t.train_data.device)
    t.net.train()
    batches = itertools.chain.from_iterable(t.train_data.batches(t.batches)
                                            for _ in itertools.count())
    average = 0.0
    for i, (xb, yb) in zip(range(steps), batches, strict=False):
        lr = rate(start, end, steps, i)
        for group in t.optimizer.param_groups:
            group["lr"] = lr
        if t.augment is not None:
            xb = t.augment(xb, t.augment_rng)
        _, loss = _step(t, xb, yb, params, sums, 1.0)
        value = loss.item()
        if on_step is not None:
            on_step()
        if not math.isfinite(value):
            out.stopped = f"the loss was not finite at lr {lr:.3g}"
            break
        average = BETA * average + (1 - BETA) * value
        smooth = average / (1 - BETA ** (i + 1))
        out.lrs.append(lr)
        out.losses.append(value)
        out.smoothed.append(smooth)
        if i > 10 and smooth > BLOW_UP * min(out.smoothed):
            out.stopped = f"the loss blew up at lr {lr:.3g}"
            break
    if out.smoothed:
        low = min(range(len(out.smoothed)), key=out.smoothed.__getitem__)
        out.minimum = out.lrs[low]
        out.suggested = out.minimum / 10
    return out
