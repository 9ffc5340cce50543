"""The hand-written tune that bench/tune_speed.py measures `deepnet tune` against: the same
20-trial search of the digits MLP written as a user would with Optuna and PyTorch alone,
in one process: the data and the epoch loop of bench/handwritten_digits.py (scikit-learn's
digits file split 70/15/15, standardised on the training rows); per trial build the MLP with the trial's first width and dropout, train
10 epochs in batches of 64 with the trial's optimizer and a one-cycle schedule peaking at
its learning rate, report the validation accuracy after each epoch to Optuna's median
pruner (5 startup trials, 1 warm-up epoch, deepnet's defaults). The parameters have
deepnet's names and each trial gets a TPE sampler seeded with its number, as `deepnet tune`
does with seed 0, so both draw the same first 10 (random) trials; later draws follow each
tune's own results. It writes nothing: no checkpoints, report, importances or trial files.

    python bench/handwritten_tune.py [TRIALS]

Prints one JSON line: the seconds of the imports and of the trials, the trial counts and
the best value.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import optuna  # noqa: E402
import torch  # noqa: E402
from handwritten_digits import digits, train_epoch  # noqa: E402  (bench/: the same data, loop)
from torch import nn  # noqa: E402

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
              "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


def objective(trial, x, y, train, val, epochs: int = 10) -> float:
    lr = trial.suggest_float("train.optimizer.lr", 3e-4, 3e-2, log=True)
    units = trial.suggest_int("model.layers[1].dense.units", 32, 256, log=True)
    rate = trial.suggest_float("model.layers[2].dropout.rate", 0.0, 0.5)
    name = trial.suggest_categorical("train.optimizer.name", list(OPTIMIZERS))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, units), nn.ReLU(), nn.Dropout(rate),
                          nn.Linear(units, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = OPTIMIZERS[name](model.parameters(), lr=lr)
    steps = -(-len(train) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    loss_fn, g = nn.CrossEntropyLoss(), torch.Generator().manual_seed(0)
    accuracy = 0.0
    for epoch in range(epochs):
        train_epoch(model, opt, sched, loss_fn, x, y, train, g)
        model.eval()
        with torch.no_grad():
            accuracy = (model(x[val]).argmax(1) == y[val]).float().mean().item()
        trial.report(accuracy, epoch + 1)  # deepnet counts epochs from 1
        trial.set_user_attr("epochs", epoch + 1)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


def main(trials: int = 20) -> dict:
    imported = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, y, (_, val, train) = digits(torch.Generator().manual_seed(0))
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(5, 1))
    for n in range(trials):
        study.sampler = optuna.samplers.TPESampler(seed=n)  # as deepnet tune seeds its trials
        trial = study.ask()
        try:
            study.tell(trial, objective(trial, x, y, train, val))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    done = time.perf_counter()
    states = [t.state.name.lower() for t in study.trials]
    return {"import": round(imported - STARTED, 3), "trials": round(done - imported, 3),
            "wall": round(done - STARTED, 3),
            "counts": {s: states.count(s) for s in ("complete", "pruned", "fail")},
            "epochs": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
            "best_value": study.best_value}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
