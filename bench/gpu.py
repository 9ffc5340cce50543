"""GPU throughput (issue 21): training images per second of the digits CNN and a
ResNet-style network on synthetic 3x32x32 data held on the device, with channels_last, bf16
autocast (on a GPU; fp32 on the CPU) and torch.compile off and on, through `deepnet.train`
against a hand-written PyTorch loop with the same network, settings and batches, measured
in the same run.

    .venv/bin/python bench/gpu.py                       # a GPU if there is one, else the CPU
    .venv/bin/python bench/gpu.py --n 512 --epochs 2 --compile off    # a quick CPU check

Images per second are those of the steady epochs (the first, which pays for compiling and
the caches, is left out), training rows over an epoch's seconds (its validation pass on
2% of the rows included on both sides). Prints a table, then one JSON line with the
figures and deepnet's throughput as a fraction of the loop's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

SPLIT = {"val": 0.02, "test": 0.02}

# The same networks as deepnet layers and as torch modules (conv2d pads to `same`).
LAYERS = {
    "cnn": [{"conv2d": {"filters": 32, "kernel": 3, "activation": "relu"}}, {"batchnorm": {}},
            {"conv2d": {"filters": 32, "kernel": 3, "activation": "relu"}}, {"maxpool2d": 2},
            {"flatten": {}}, {"dense": {"units": 128, "activation": "relu"}}, {"dropout": 0.3},
            {"dense": {"units": 10}}],
}


def _conv(filters: int, relu: bool = True) -> list[dict]:
    return [{"conv2d": {"filters": filters, "kernel": 3,
                        "activation": "relu" if relu else "linear"}}, {"batchnorm": {}}]


def _block(filters: int) -> dict:
    return {"residual": [*_conv(filters), *_conv(filters, relu=False)]}


LAYERS["resnet"] = [*_conv(64), _block(64), _block(64), {"maxpool2d": 2},
                    *_conv(128), _block(128), _block(128), {"maxpool2d": 2},
                    *_conv(256), _block(256), {"globalavgpool": {}}, {"dense": {"units": 10}}]


class Residual(nn.Module):
    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


def _tconv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), *([nn.ReLU()] if relu else []),
            nn.BatchNorm2d(cout)]


def _tblock(c: int) -> nn.Module:
    return Residual(*_tconv(c, c), *_tconv(c, c, relu=False))


def torch_network(kind: str) -> nn.Module:
    if kind == "cnn":
        return nn.Sequential(*_tconv(3, 32), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16 * 16, 128),
                             nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    return nn.Sequential(*_tconv(3, 64), _tblock(64), _tblock(64), nn.MaxPool2d(2),
                         *_tconv(64, 128), _tblock(128), _tblock(128), nn.MaxPool2d(2),
                         *_tconv(128, 256), _tblock(256), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(256, 10))


def synthetic(n: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    return g.random((n, 3, 32, 32), dtype=np.float32), g.integers(0, 10, n)


def deepnet_epochs(kind: str, data, device: str, compile_: bool, epochs: int, batch: int,
                   out: Path) -> list[float]:
    import deepnet

    spec = deepnet.Spec.from_dict({
        "name": f"gpu-{kind}", "seed": 0, "task": "classification",
        "data": {"source": "memory", "split": SPLIT, "normalize": "none"},
        "model": {"layers": LAYERS[kind]},
        "train": {"epochs": epochs, "batch_size": batch, "early_stopping": None,
                  "device": device, "precision": "bf16" if device == "cuda" else "fp32",
                  "compile": compile_, "optimizer": {"name": "adam", "lr": 1e-3}}})
    run = deepnet.train(spec, out=out, quiet=True, report=False, data=data)
    return [row["seconds"] for row in run.history], _count(run.model)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def loop_epochs(kind: str, data, device: str, compile_: bool, epochs: int, batch: int
                ) -> tuple[list[float], int]:
    """What a user writes: split as deepnet does (2% val, 2% test), the whole training
    set on the device, a shuffled permutation per epoch, Adam (fused on a GPU), bf16
    autocast on a GPU, channels_last for convolutions, a validation pass each epoch."""
    torch.manual_seed(0)
    dev = torch.device(device)
    x, y = (torch.as_tensor(a) for a in data)
    n = len(y)
    n_val, n_test = round(n * SPLIT["val"]), round(n * SPLIT["test"])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    tr, va = perm[n_val + n_test:], perm[:n_val]
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    xt, yt = x[tr].to(dev).contiguous(memory_format=fmt), y[tr].to(dev)
    xv, yv = x[va].to(dev).contiguous(memory_format=fmt), y[va].to(dev)
    model = torch_network(kind).to(dev, memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=dev.type == "cuda")
    net = torch.compile(model) if compile_ else model
    loss_fn = nn.CrossEntropyLoss()
    cast = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(yt), device=dev)
        for s in range(0, len(yt), batch):
            idx = order[s:s + batch]
            with torch.autocast(**cast):
                loss = loss_fn(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad(), torch.autocast(**cast):
            correct = sum((net(xv[s:s + 1024]).argmax(1) == yv[s:s + 1024]).sum()
                          for s in range(0, len(yv), 1024))
        float(correct)  # waits for the device
        seconds.append(time.perf_counter() - started)
    return seconds, _count(model)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="cuda, cpu or auto (default)")
    p.add_argument("--n", type=int, default=None, help="images (default 50000 on a GPU, "
                                                         "2048 on the CPU)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per case (default 4)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--compile", choices=["off", "on", "both"], default=None,
                   help="torch.compile (default both on a GPU, off on the CPU)")
    p.add_argument("--models", default=None,
                   help="cnn,resnet (default: both on a GPU, the CNN on the CPU)")
    a = p.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    n = a.n or (50000 if device == "cuda" else 2048)
    modes = {"off": [False], "on": [True], "both": [False, True]}[
        a.compile or ("both" if device == "cuda" else "off")]
    if a.epochs < 2:
        p.error("--epochs must be at least 2: the first epoch is left out")
    models = (a.models or ("cnn,resnet" if device == "cuda" else "cnn")).split(",")
    data = synthetic(n)
    n_train = n - round(n * SPLIT["val"]) - round(n * SPLIT["test"])
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"{name}: {n_train} training images of 3x32x32, batch {a.batch}, {a.epochs} epochs "
          f"(the first left out), {'bf16' if device == 'cuda' else 'fp32'}")
    print(f"{'case':22} {'deepnet img/s':>14} {'loop img/s':>12} {'ratio':>7}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for kind in models:
            for c in modes:
                torch._dynamo.reset()  # each compiled case starts with no cached graphs
                ours, n_ours = deepnet_epochs(kind, data, device, c, a.epochs, a.batch,
                                      Path(d) / f"{kind}-{c}")
                torch._dynamo.reset()
                theirs, n_theirs = loop_epochs(kind, data, device, c, a.epochs, a.batch)
                row = {"model": kind, "compile": c,
                       "deepnet": n_train / statistics.median(ours[1:]),
                       "loop": n_train / statistics.median(theirs[1:]),
                       "deepnet_first_epoch_s": ours[0], "loop_first_epoch_s": theirs[0],
                       "parameters": {"deepnet": n_ours, "loop": n_theirs}}
                row["ratio"] = row["deepnet"] / row["loop"]
                rows.append(row)
                print(f"{kind + (' compiled' if c else ''):22} {row['deepnet']:14.0f} "
                      f"{row['loop']:12.0f} {row['ratio']:7.3f}", flush=True)
    print(json.dumps({"device": name, "n_train": n_train, "batch": a.batch, "rows": rows}))


if __name__ == "__main__":
    main()
