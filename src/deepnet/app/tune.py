"""`deepnet.tune(spec)`: the hyperparameter search, training each trial as a run."""

from __future__ import annotations

import sys

from deepnet import tune as tuning
from deepnet.app.train import train
from deepnet.spec import Spec

# How a worker process of `deepnet tune --workers K` is started: the CLI's own tune command.
WORKER = (sys.executable, "-m", "deepnet", "tune")


def tune(spec, trials=None, timeout=None, storage=None, study=None, workers: int = 1,
         out=None, quiet: bool = False, *, worker: bool = False):
    """Search `spec.tune.space` (see deepnet.tune.tune); each trial is trained by
    deepnet.app.train.train into the tune directory.

    >>> result = deepnet.tune(deepnet.Spec.from_yaml("examples/digits.yaml"), trials=10)
    """
    spec = Spec.coerce(spec)  # a Spec, a dict or a YAML file's path
    return tuning.tune(spec, trials, timeout, storage, study, workers, out, quiet,
                       worker=worker, train=train, worker_command=WORKER)
