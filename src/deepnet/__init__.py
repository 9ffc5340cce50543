"""deepnet: deep neural networks from one YAML spec, on PyTorch.

    import deepnet
    spec = deepnet.Spec.from_yaml("examples/digits.yaml")
    model = deepnet.build(spec)
    deepnet.summary(spec, batch_size=64)
"""

from deepnet.errors import CheckpointError, DataError, DeepnetError, SpecError
from deepnet.nn import Summary, build, summary
from deepnet.spec import Spec

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DeepnetError",
    "Spec",
    "SpecError",
    "Summary",
    "build",
    "summary",
]
