"""deepnet: deep neural networks from one YAML spec, on PyTorch.

    import deepnet
    spec = deepnet.Spec.from_yaml("examples/digits.yaml")
    model = deepnet.build(spec)
    deepnet.summary(spec, batch_size=64)
    run = deepnet.train(spec)            # a Run: model, history, results, path
    run = deepnet.load(run.path)         # run.predict(raw_inputs)
    run = deepnet.train(spec, data=df)   # data in Python: a DataFrame, (X, y), a dict

scikit-learn estimators: deepnet.sklearn (DeepNetClassifier, DeepNetRegressor). Layers,
activations, losses, metrics and callbacks of one's own: deepnet.register_layer and its
siblings (deepnet.extend), with deepnet.LayerArgs and deepnet.Callback.

Where a spec is wanted (train, tune, build, summary, estimate_memory, audit) a Spec, a
dict of one or the path of a YAML file will do (`Spec.coerce`); where a run is wanted
(evaluate, diagnose, attack), a Run or the path of its directory (`load`). Bad input
raises a DeepnetError, never an AttributeError: a SpecError for a spec (or an argument
that is none of those forms), a DataError for data, a CheckpointError for a run
directory (or an argument that is neither form of a run), a DeepnetError for a number out
of range (`summary(spec, batch_size=-5)`). The CLI maps each to exit code 2.

The names below are imported when first used, so `import deepnet` (and `deepnet --help`)
does not load PyTorch. Four of them share their name with a subpackage (`deepnet.train`,
`deepnet.tune`, `deepnet.diagnose`, `deepnet.summary`): as attributes of `deepnet` they
are always the functions; the subpackages are imported by their full names.
"""

import importlib
import sys
import types

from deepnet.core.errors import CheckpointError, DataError, DeepnetError, SpecError
from deepnet.core.version import VERSION as __version__

_API = {  # public name -> the module that defines it
    "Spec": "deepnet.spec.models",
    "Run": "deepnet.runs.run",
    "load": "deepnet.runs.load",
    "build": "deepnet.app.model",
    "train": "deepnet.app.train",
    "evaluate": "deepnet.app.train",
    "tune": "deepnet.app.tune",
    "lr_find": "deepnet.app.lr_find",
    "Summary": "deepnet.summary",
    "summary": "deepnet.summary",
    "estimate_memory": "deepnet.resources",
    "audit": "deepnet.diagnose.audit",
    "diagnose": "deepnet.diagnose",
    "attack": "deepnet.robust.evaluate",
    "export": "deepnet.app.export",
    "register_layer": "deepnet.extend",
    "register_activation": "deepnet.extend",
    "register_loss": "deepnet.extend",
    "register_metric": "deepnet.extend",
    "register_callback": "deepnet.extend",
    "Callback": "deepnet.train.callbacks",
    "LayerArgs": "deepnet.nn.layer_type",
}
_DEFINED_AS = {"evaluate": "evaluate_run", "LayerArgs": "Args"}

__all__ = ["CheckpointError", "DataError", "DeepnetError", "SpecError", "__version__", *_API]


class _Package(types.ModuleType):
    def __getattr__(self, name: str):
        if name not in _API:
            raise AttributeError(f"module 'deepnet' has no attribute {name!r}")
        value = getattr(importlib.import_module(_API[name]), _DEFINED_AS.get(name, name))
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return  # a subpackage being imported: the public name stays the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
