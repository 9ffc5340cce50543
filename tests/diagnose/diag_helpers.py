"""Helpers shared by the diagnose tests (a unique module name: see tests/tune)."""

import copy

import deepnet


def digits_spec(layers: list, data: dict | None = None, **train) -> deepnet.Spec:
    """A spec on the bundled digits, flattened into `layers`."""
    return deepnet.Spec.from_dict(copy.deepcopy({
        "name": "planted", "seed": 0, "data": {"source": "digits", **(data or {})},
        "model": {"layers": [{"flatten": {}}, *layers]},
        "train": {"batch_size": 64, **train}}))


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]
