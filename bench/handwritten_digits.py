"""The hand-written PyTorch script that bench/turnaround.py measures deepnet against: what
`deepnet train` does for the digits CNN (examples/digits.yaml) or MLP, written as a user
would, with nothing of deepnet: read scikit-learn's digits file, split 70/15/15, standardise
on the training rows, train with Adam and a one-cycle schedule in batches of 64,
validate every epoch, score the test split, save the weights as safetensors.

    python bench/handwritten_digits.py cnn|mlp EPOCHS OUT.safetensors
    python bench/handwritten_digits.py        # the CNN, 1 epoch, into a temporary file

Prints one JSON line: the seconds of each phase (import, data, build, first epoch, steady
epochs, evaluation, save) and the test accuracy.
"""

import time

STARTED = time.perf_counter()

import gzip  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch import nn  # noqa: E402


def network(kind: str) -> nn.Module:
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(32),
                             nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Dropout(0.3),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                         nn.ReLU(), nn.Linear(256, 10))


def digits(g: torch.Generator):
    """scikit-learn's digits file as (n, 1, 8, 8) images standardised on the training rows,
    the labels, and the rows of the test, validation and training splits (15/15/70)."""
    folder = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    with gzip.open(Path(folder) / "datasets" / "data" / "digits.csv.gz", "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = torch.as_tensor(raw[:, :-1] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(raw[:, -1]).long()
    order = torch.randperm(len(y), generator=g)
    n_test = n_val = int(0.15 * len(y))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    mean, std = x[train].mean(0), x[train].std(0) + 1e-7
    return (x - mean) / std, y, (test, val, train)


def train_epoch(model, opt, sched, loss_fn, x, y, train, g: torch.Generator) -> None:
    """One pass over the training rows in shuffled batches of 64."""
    model.train()
    perm = train[torch.randperm(len(train), generator=g)]
    for s in range(0, len(perm), 64):
        idx = perm[s:s + 64]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def run(kind: str, epochs: int, out: str, started: float) -> dict:
    laps, last = {}, started

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        laps[name], last = round(now - last, 4), now

    lap("import")
    g = torch.Generator().manual_seed(0)
    x, y, (test, val, train) = digits(g)
    lap("data")
    torch.manual_seed(0)
    model = network(kind)
    lr = 0.003
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4 if kind == "cnn" else 0)
    steps = -(-len(train) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    loss_fn = nn.CrossEntropyLoss()
    lap("build")
    for epoch in range(epochs):
        train_epoch(model, opt, sched, loss_fn, x, y, train, g)
        model.eval()
        with torch.no_grad():
            out_val = model(x[val])
            loss_fn(out_val, y[val]).item()
            (out_val.argmax(1) == y[val]).float().mean().item()
        if epoch == 0:
            lap("first_epoch")
    if epochs > 1:
        lap("steady_epochs")
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    lap("evaluate")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    lap("save")
    return {"timings": laps, "accuracy": round(accuracy, 4)}


if __name__ == "__main__":
    if len(sys.argv) == 1:  # `make bench` runs every bench script bare: the CNN, 1 epoch
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(run("cnn", 1, f"{d}/cnn.safetensors", STARTED)))
    else:
        kind, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        print(json.dumps(run(kind, epochs, out, STARTED)))
