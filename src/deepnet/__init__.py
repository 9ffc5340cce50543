"""deepnet: deep neural networks from one YAML spec, on PyTorch.

    import deepnet
    spec = deepnet.Spec.from_yaml("examples/digits.yaml")
    model = deepnet.build(spec)
    deepnet.summary(spec, batch_size=64)
    run = deepnet.train(spec)            # a Run: model, history, results, path
    run = deepnet.load(run.path)         # run.predict(raw_inputs)
"""

from deepnet.diagnose import audit, diagnose
from deepnet.core.errors import CheckpointError, DataError, DeepnetError, SpecError
from deepnet.nn import Summary, build, summary
from deepnet.resources import estimate_memory
from deepnet.robust.evaluate import attack
from deepnet.spec import Spec
from deepnet.train.api import evaluate_run as evaluate
from deepnet.train.api import train
from deepnet.train.runs import Run, load
from deepnet.tune import tune

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DeepnetError",
    "Spec",
    "SpecError",
    "Run",
    "Summary",
    "attack",
    "audit",
    "build",
    "diagnose",
    "estimate_memory",
    "evaluate",
    "load",
    "summary",
    "train",
    "tune",
]
