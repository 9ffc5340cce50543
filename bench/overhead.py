"""deepnet.train against a hand-written PyTorch loop: same network, data, batch order,
optimizer, schedule and epochs, in one process, alternating, several repeats.

Prints a table and, last, the JSON {"ratio_cnn": x, "ratio_mlp": y, "ratio_cnn1d": z,
"recording_cnn": a, ...}: deepnet's training time over plain PyTorch's (medians), target
each <= 1.05; and what training records for `deepnet diagnose` costs, as a share of the
training time (issue 14, target <= 3%): per step the gradient norm of every parameter, per
epoch the train metrics over the epoch's outputs and one metrics.jsonl line, as
deepnet.train.trainer records them. That share is timed apart (`recording_share`): the
same training steps with and without the recording, in CPU seconds of this process, the
best of several repeats, so that other processes on the machine (a few percent is below
the noise of whole training runs on a shared machine) do not decide it. The plain loop is what a user
writes (`torch.optim.Adam(params, lr)`, PyTorch's defaults); deepnet uses the fused Adam
kernel, so the table also times the plain loop with `fused=True`: the ratio against it
is deepnet's own overhead (checkpoint, metrics.jsonl, gradient norms, train metrics). deepnet's time is its whole
training loop (results.json `seconds`: every epoch with validation, metrics, gradient
norms, the divergence guard and a checkpoint per epoch); the whole call, with data
loading, the test evaluation and the report, is printed beside it.

cnn1d is the CNN of the MNIST-1D paper (examples/mnist1d_cnn.yaml, on the data `make
data` generates; skipped without them) against the paper's own module, written here as
its authors wrote it (channels first, a view instead of deepnet's time-major layout).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import deepnet
from deepnet.data.batches import batch_bounds
from deepnet.data.prepare import prepare
from deepnet.nn.build import build_model
from deepnet.train.metrics import compute

REPEATS = {"cnn": 7, "mlp": 15, "cnn1d": 7}  # the MLP's run is short, its timing noisier
RECORD_STEPS, RECORD_REPEATS = 100, 9  # recording_share: steps per timing, best of
EPOCHS = 10

SPECS = {
    "cnn": "examples/digits.yaml",
    "mlp": {
        "name": "mlp", "seed": 0, "data": {"source": "digits"},
        "model": {"layers": [{"flatten": {}}, {"dense": {"units": 256, "activation": "relu"}},
                             {"dense": {"units": 256, "activation": "relu"}},
                             {"dense": {"units": 10}}]},
        "train": {"epochs": EPOCHS, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.003},
                  "schedule": "onecycle", "early_stopping": None},
    },
    "cnn1d": "examples/mnist1d_cnn.yaml",
}
# validation rows, as the other cases have (the example trains on all of them)
EXTRA = {"cnn1d": ["data.split.val=0.1"]}
MNIST1D = Path("examples/data/mnist1d/train.npz")


class PaperCNN(torch.nn.Module):
    """The MNIST-1D paper's ConvBase (github.com/greydanus/mnist1d, notebooks/models.py)."""

    def __init__(self, channels: int = 25, linear_in: int = 125):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = torch.nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = torch.nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = torch.nn.Linear(linear_in, 10)

    def forward(self, x):
        x = x.view(-1, 1, x.shape[1])  # (batch, 40, 1) -> (batch, 1, 40)
        h = self.conv3(self.conv2(self.conv1(x).relu()).relu()).relu()
        return self.linear(h.view(h.shape[0], -1))


HAND = {"cnn1d": PaperCNN}  # cases whose plain loop has its own module


def load_spec(name: str, source) -> deepnet.Spec:
    overrides = [f"train.epochs={EPOCHS}", "train.early_stopping=null", *EXTRA.get(name, [])]
    if isinstance(source, str):
        return deepnet.Spec.from_yaml(source, overrides)
    return deepnet.Spec.from_dict(source, overrides)


def plain_pytorch(name: str, spec: deepnet.Spec, fused: bool = False) -> float:
    """The loop a user would write by hand; returns its training time in seconds."""
    prepared = prepare(spec)
    torch.manual_seed(spec.seed)
    model = HAND[name]() if name in HAND else \
        build_model(spec.model.layers, prepared.dataset.input_shape, spec.seed)[0]
    if name in HAND:
        assert sum(p.numel() for p in model.parameters()) == sum(
            p.numel() for p in build_model(spec.model.layers, prepared.dataset.input_shape)[0]
            .parameters()), "the hand-written module and the spec differ"
    x_tr, y_tr = (torch.as_tensor(a) for a in prepared.arrays("train"))
    x_val, y_val = (torch.as_tensor(a) for a in prepared.arrays("val"))
    tc = spec.train
    opt = torch.optim.Adam(model.parameters(), lr=tc.optimizer.lr,
                           weight_decay=tc.optimizer.weight_decay, fused=fused)
    bs, n = tc.batch_size, len(y_tr)
    bounds = batch_bounds(n, bs)  # deepnet's batches (a one-row last one joins the one before)
    steps = len(bounds)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, tc.optimizer.lr, total_steps=EPOCHS * steps) \
        if tc.schedule.name == "onecycle" else None
    gen = torch.Generator().manual_seed(spec.seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for a, b in bounds:
            idx = order[a:b]
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            out = model(x_val)
            val_loss = loss_fn(out, y_val).item()
            val_acc = (out.argmax(1) == y_val).float().mean().item()
        del val_loss, val_acc
    return time.perf_counter() - start


def recording_share(spec: deepnet.Spec) -> float:
    """What recording for the diagnosis adds to a training epoch, as a share of it. Each
    part is timed on its own, in CPU seconds of this process, the best of RECORD_REPEATS
    (a difference of two whole trainings drowns in a shared machine's noise): a training
    step (forward, backward, fused Adam); the per-step recording after it (one norm per
    parameter gradient, summed on the device; the outputs kept); the per-epoch recording
    (train metrics over the epoch's outputs, the mean norms as a list, one JSON line),
    spread over the epoch's steps."""
    prepared = prepare(spec)
    model, _ = build_model(spec.model.layers, prepared.dataset.input_shape, spec.seed)
    x_tr, y_tr = (torch.as_tensor(a) for a in prepared.arrays("train"))
    bs = spec.train.batch_size
    steps = len(batch_bounds(len(y_tr), bs))
    xb, yb = x_tr[:bs], y_tr[:bs]
    opt = torch.optim.Adam(model.parameters(), lr=spec.train.optimizer.lr, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    sums = torch.zeros(len(params))
    outputs: list[torch.Tensor] = []

    def step() -> None:
        out = model(xb)
        loss = loss_fn(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        outputs[:] = [out.detach()]

    def per_step() -> None:  # as deepnet.train.trainer._step and train_epoch do
        sums.add_(torch.stack(torch._foreach_norm([p.grad for p in params])))
        outputs.append(outputs[0])

    def per_epoch() -> None:  # as train_epoch and the metrics.jsonl writer do
        out = torch.cat(outputs[:steps])
        logs = {"train_loss": 0.0, **compute(["accuracy", "f1"], out, yb.repeat(len(out) // bs)),
                "grad_norms": dict(zip(names, (sums / steps).tolist(), strict=True))}
        io.StringIO().write(json.dumps(logs) + "\n")

    def best(fn, n: int) -> float:
        times = []
        for _ in range(RECORD_REPEATS):
            start = time.process_time()
            for _ in range(n):
                fn()
            times.append((time.process_time() - start) / n)
        return min(times)

    step()
    t_step = best(step, RECORD_STEPS)  # leaves gradients and one batch's outputs
    t_record = best(per_step, RECORD_STEPS)
    outputs[:] = outputs[:1] * steps
    t_epoch = best(per_epoch, 10)
    return (t_record + t_epoch / steps) / t_step


def with_deepnet(spec: deepnet.Spec) -> tuple[float, float]:
    """(training loop seconds, whole deepnet.train call seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        run = deepnet.train(spec, out=f"{d}/run", quiet=True)
    return run.results.seconds, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", choices=list(SPECS), default=list(SPECS))
    cases = p.parse_args().cases
    ratios = {}
    print(f"{'case':5} {'plain s':>8} {'fused s':>8} {'deepnet s':>10} {'ratio':>6} "
          f"{'vs fused':>9} {'whole call s':>13} {'recording':>10}")
    for name, source in ((n, SPECS[n]) for n in cases):
        if name == "cnn1d" and not MNIST1D.exists():
            print(f"{name:5} skipped: no {MNIST1D} (make data)")
            continue
        spec = load_spec(name, source)
        plain, fused, ours, whole = [], [], [], []
        with_deepnet(spec)  # warm-up: imports, allocator
        for _ in range(REPEATS[name]):
            plain.append(plain_pytorch(name, spec))
            fused.append(plain_pytorch(name, spec, fused=True))
            t, w = with_deepnet(spec)
            ours.append(t)
            whole.append(w)
        p, f, o, w = (statistics.median(v) for v in (plain, fused, ours, whole))
        r = recording_share(spec)
        ratios[f"ratio_{name}"] = round(o / p, 3)
        ratios[f"recording_{name}"] = round(r, 4)
        print(f"{name:5} {p:8.3f} {f:8.3f} {o:10.3f} {o / p:6.3f} {o / f:9.3f} {w:13.3f} "
              f"{r:10.1%}")
        sys.stdout.flush()
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
