"""deepnet.estimate_memory against the measured figure, for five architectures (an
MLP, a CNN, an LSTM, a GRU, a transformer block; the transformer also with attention
dropout, which keeps the attention weights), each at batch sizes 1, 32 and 256.

Measured (deepnet.resources.measure_memory): the distinct storages autograd saves during
one training-mode forward (saved_tensors_hooks; parameters and buffers left out, as in
the estimate) plus parameter, gradient and optimizer-state bytes after one Adam step.

Prints a table and, last, the JSON {"max_abs_error_pct": x, "max_abs_activation_error_pct":
y}: the largest error of the total and of the activations alone. Target: both <= 10.
"""

from __future__ import annotations

import json

import deepnet
from deepnet.nn.build import build_model
from deepnet.resources import estimate_memory, measure_memory

BATCHES = (1, 32, 256)
ARCHITECTURES = {
    "mlp": ([{"flatten": {}}, {"dense": {"units": 256, "activation": "relu"}},
             {"dense": {"units": 128, "activation": "relu"}}, {"dropout": 0.2},
             {"dense": 10}], (1, 28, 28)),
    "cnn": ([{"conv2d": {"filters": 16, "activation": "relu"}}, {"batchnorm": {}},
             {"maxpool2d": 2}, {"conv2d": {"filters": 32, "activation": "relu"}},
             {"maxpool2d": 2}, {"flatten": {}}, {"dropout": 0.3},
             {"dense": {"units": 64, "activation": "relu"}}, {"dense": 10}], (1, 28, 28)),
    "lstm": ([{"lstm": 64}, {"dense": 10}], (28, 28)),
    "gru": ([{"gru": 64}, {"dense": 10}], (28, 28)),
    "transformer": ([{"dense": 64}, {"transformer": {"heads": 4, "ff_units": 256}},
                     {"globalavgpool": {}}, {"dense": 10}], (32, 16)),
    "transformer-dropout": ([{"dense": 64},
                             {"transformer": {"heads": 4, "ff_units": 256, "dropout": 0.1}},
                             {"globalavgpool": {}}, {"dense": 10}], (32, 16)),
}


def error_pct(estimate: int, measured: int) -> float:
    return 100 * (estimate - measured) / measured


def main() -> None:
    header = (f"{'architecture':<20} {'batch':>5} {'estimated':>13} {'measured':>13} "
              f"{'error %':>8} {'activations est':>16} {'measured':>13} {'error %':>8}")
    print(header)
    print("-" * len(header))
    worst_total = worst_acts = 0.0
    for name, (layers, shape) in ARCHITECTURES.items():
        spec = deepnet.Spec.from_dict({"name": name, "data": {"source": "digits"},
                                       "model": {"layers": layers}})
        model, _ = build_model(spec.model.layers, shape, spec.seed)
        for batch in BATCHES:
            est = estimate_memory(spec, shape, batch, "adam")
            meas = measure_memory(model, shape, batch, "adam")
            total, acts = (error_pct(est.total, meas.total),
                           error_pct(est.activations, meas.activations))
            worst_total, worst_acts = max(worst_total, abs(total)), max(worst_acts, abs(acts))
            print(f"{name:<20} {batch:>5} {est.total:>13,} {meas.total:>13,} {total:>+8.2f} "
                  f"{est.activations:>16,} {meas.activations:>13,} {acts:>+8.2f}")
    print(json.dumps({"max_abs_error_pct": round(worst_total, 3),
                      "max_abs_activation_error_pct": round(worst_acts, 3)}))


if __name__ == "__main__":
    main()
