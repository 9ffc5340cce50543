"""deepnet.train against a hand-written PyTorch loop: same network, data, batch order,
optimizer, schedule and epochs, in one process, alternating, several repeats.

Prints a table and, last, the JSON {"ratio_cnn": x, "ratio_mlp": y}: deepnet's training
time over plain PyTorch's (medians). Target: both <= 1.05. The plain loop is what a user
writes (`torch.optim.Adam(params, lr)`, PyTorch's defaults); deepnet uses the fused Adam
kernel, so the table also times the plain loop with `fused=True`: the ratio against it
is deepnet's own overhead (checkpoint, metrics.jsonl, gradient norms, train metrics). deepnet's time is its whole
training loop (results.json `seconds`: every epoch with validation, metrics, gradient
norms, the divergence guard and a checkpoint per epoch); the whole call, with data
loading, the test evaluation and the report, is printed beside it.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time

import torch

import deepnet
from deepnet.data.batches import batch_starts
from deepnet.data.prepare import prepare
from deepnet.nn.build import build_model

REPEATS = {"cnn": 7, "mlp": 15}  # the MLP's run is short, its timing noisier
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
}


def load_spec(source) -> deepnet.Spec:
    overrides = [f"train.epochs={EPOCHS}", "train.early_stopping=null"]
    if isinstance(source, str):
        return deepnet.Spec.from_yaml(source, overrides)
    return deepnet.Spec.from_dict(source, overrides)


def plain_pytorch(spec: deepnet.Spec, fused: bool = False) -> float:
    """The loop a user would write by hand; returns its training time in seconds."""
    prepared = prepare(spec)
    model, _ = build_model(spec.model.layers, prepared.dataset.input_shape, spec.seed)
    torch.manual_seed(spec.seed)
    x_tr, y_tr = (torch.as_tensor(a) for a in prepared.arrays("train"))
    x_val, y_val = (torch.as_tensor(a) for a in prepared.arrays("val"))
    tc = spec.train
    opt = torch.optim.Adam(model.parameters(), lr=tc.optimizer.lr,
                           weight_decay=tc.optimizer.weight_decay, fused=fused)
    bs, n = tc.batch_size, len(y_tr)
    starts = batch_starts(n, bs)  # deepnet drops a one-sample last batch; so does this
    steps = len(starts)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, tc.optimizer.lr, total_steps=EPOCHS * steps)
    gen = torch.Generator().manual_seed(spec.seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for s in starts:
            idx = order[s:s + bs]
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            out = model(x_val)
            val_loss = loss_fn(out, y_val).item()
            val_acc = (out.argmax(1) == y_val).float().mean().item()
        del val_loss, val_acc
    return time.perf_counter() - start


def with_deepnet(spec: deepnet.Spec) -> tuple[float, float]:
    """(training loop seconds, whole deepnet.train call seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        run = deepnet.train(spec, out=f"{d}/run", quiet=True)
    return run.results.seconds, time.perf_counter() - start


def main() -> None:
    ratios = {}
    print(f"{'case':5} {'plain s':>8} {'fused s':>8} {'deepnet s':>10} {'ratio':>6} "
          f"{'vs fused':>9} {'whole call s':>13}")
    for name, source in SPECS.items():
        spec = load_spec(source)
        plain, fused, ours, whole = [], [], [], []
        with_deepnet(spec)  # warm-up: imports, allocator
        for _ in range(REPEATS[name]):
            plain.append(plain_pytorch(spec))
            fused.append(plain_pytorch(spec, fused=True))
            t, w = with_deepnet(spec)
            ours.append(t)
            whole.append(w)
        p, f, o, w = (statistics.median(v) for v in (plain, fused, ours, whole))
        ratios[f"ratio_{name}"] = round(o / p, 3)
        print(f"{name:5} {p:8.3f} {f:8.3f} {o:10.3f} {o / p:6.3f} {o / f:9.3f} {w:13.3f}")
        sys.stdout.flush()
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
