"""`deepnet lr-find SPEC`: the learning-rate range test on the spec's network and data
(deepnet.train.lr_find), its suggestion and its plot."""

from __future__ import annotations

from pathlib import Path

from deepnet.core import heap
from deepnet.core.errors import DeepnetError
from deepnet.core.figures import png_bytes, pyplot
from deepnet.core.io import write_bytes_atomic
from deepnet.core.progress import bar
from deepnet.data.prepare import prepare
from deepnet.spec import Spec
from deepnet.spec.train import Schedule
from deepnet.train.lr_find import RangeTest, range_test
from deepnet.train.setup import device_for, make_trainer


def lr_find(spec, steps: int = 200, start: float = 1e-7, end: float = 10.0,
            data=None) -> RangeTest:
    """The range test of `spec` (a Spec, a dict or a YAML path): its network freshly
    initialised with its seed, its optimizer and batches, one batch per step.

    >>> deepnet.lr_find("examples/digits.yaml").suggested
    """
    from deepnet.app.train import check_against_data, trainer_parts

    if steps < 20:
        raise DeepnetError(f"--steps: at least 20 steps make a range test; got {steps}")
    if not 0 < start < end:
        raise DeepnetError(f"--start and --end: 0 < start < end is needed; got {start:g} "
                           f"and {end:g}")
    spec = Spec.coerce(spec, data)
    heap.settle_for_training()  # before the test makes anything (deepnet.core.heap)
    prepared = prepare(spec, given=data)
    spec, model = check_against_data(spec, prepared)
    tc = spec.train.model_copy(update={"schedule": Schedule()})  # the sweep sets the rate
    setup, loss_fn = trainer_parts(spec, tc, prepared, model, device_for(tc.device))
    t = make_trainer(model, setup, loss_fn)
    with bar(f"lr-find {spec.name}", steps, "steps") as b:
        return range_test(t, steps, start, end, on_step=b.advance)


def plot(result: RangeTest, path: str | Path) -> Path:
    """The loss against the learning rate (log scale), raw and smoothed, with the
    suggestion marked; written as PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(result.lrs, result.losses, color="0.75", linewidth=0.8, label="loss")
    ax.plot(result.lrs, result.smoothed, color="C0", label="smoothed")
    if result.suggested is not None:
        ax.axvline(result.suggested, color="C3", linestyle="--",
                   label=f"suggested {result.suggested:.2g}")
        ax.axvline(result.minimum, color="C2", linestyle=":",
                   label=f"minimum {result.minimum:.2g}")
    ax.set_xscale("log")
    if result.smoothed:  # from the lowest loss to a quarter above the start's
        low = min(*result.losses, *result.smoothed)
        high = 1.25 * max(result.smoothed[:10])
        ax.set_ylim(low - 0.05 * (high - low), high)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.legend(fontsize=8)
    path = Path(path)
    write_bytes_atomic(path, png_bytes(fig))
    return path
