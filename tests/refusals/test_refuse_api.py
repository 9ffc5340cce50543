"""The Python API misused (issue 13, items 9, 13): each call raises the documented
exception (deepnet.DeepnetError or its SpecError, DataError, CheckpointError) naming the
place, never an AttributeError or a silent wrong answer; and the entry points take a dict
or a YAML path where users pass them."""

from __future__ import annotations

import numpy as np
import pytest
from refusal_checks import rejects

import deepnet
from deepnet import CheckpointError, DataError, DeepnetError, SpecError
from factory import mlp_spec, table_spec, write_spec


def _spec():
    return deepnet.Spec.from_dict(mlp_spec(epochs=1))


def _bad_units():
    return mlp_spec() | {"model": {"layers": [{"flatten": {}}, {"dense": {"units": -4}},
                                              {"dense": 10}]}}


def _iris_rows(row: int, value, dtype=np.float64) -> np.ndarray:
    x = np.random.default_rng(0).uniform(1, 6, (5, 4)).astype(dtype)
    x[row, 2] = value
    return x


# (the call, given the loaded iris and digits runs and the test's folder; the exception;
# the places its message names)
CASES = [
    pytest.param(lambda r, t: deepnet.diagnose(None), DeepnetError, ["run"],
                 id="item13-diagnose-none"),
    pytest.param(lambda r, t: deepnet.diagnose(42), DeepnetError, ["run", "int"],
                 id="item13-diagnose-int"),
    pytest.param(lambda r, t: deepnet.evaluate(None), DeepnetError, ["run"],
                 id="item13-evaluate-none"),
    pytest.param(lambda r, t: deepnet.attack(None, "fgsm"), DeepnetError, ["run"],
                 id="item13-attack-none"),
    pytest.param(lambda r, t: deepnet.summary(_spec(), batch_size=-5), DeepnetError,
                 ["batch_size", "-5"], id="item13-summary-batch-negative"),
    pytest.param(lambda r, t: deepnet.summary(_spec(), batch_size=0), DeepnetError,
                 ["batch_size"], id="item13-summary-batch-zero"),
    pytest.param(lambda r, t: deepnet.summary(_spec(), tflops=float("nan")), DeepnetError,
                 ["tflops"], id="item13-summary-tflops-nan"),
    pytest.param(lambda r, t: deepnet.summary(_spec(), memory_budget=-1), DeepnetError,
                 ["memory"], id="item13-summary-memory-negative"),
    pytest.param(lambda r, t: deepnet.summary(None), DeepnetError, ["spec"],
                 id="item13-summary-none"),
    pytest.param(lambda r, t: deepnet.estimate_memory(_spec(), (1, 8, 8), -1), DeepnetError,
                 ["batch", "-1"], id="item13-estimate-memory-batch-negative"),
    pytest.param(lambda r, t: deepnet.load(t / "missing"), CheckpointError, ["missing"],
                 id="load-missing"),
    pytest.param(lambda r, t: deepnet.load(42), CheckpointError, ["run", "int"],
                 id="load-int"),
    pytest.param(lambda r, t: deepnet.Spec.from_dict(mlp_spec(**{"train.optimizer.lr": -1})),
                 SpecError, ["train.optimizer.lr"], id="spec-from-dict-lr-negative"),
    pytest.param(lambda r, t: deepnet.Spec.from_dict(mlp_spec(seed=10**30)), SpecError,
                 ["seed"], id="item8-spec-from-dict-seed-huge"),
    pytest.param(lambda r, t: deepnet.Spec.from_dict(mlp_spec(name="../x")), SpecError,
                 ["name"], id="item1-spec-from-dict-name-escape"),
    pytest.param(lambda r, t: deepnet.Spec.from_dict(["name", "t"]), SpecError, ["list"],
                 id="spec-from-dict-list"),
    pytest.param(lambda r, t: deepnet.Spec.from_yaml(t / "nope.yaml"), SpecError,
                 ["nope.yaml"], id="spec-from-yaml-missing"),
    pytest.param(lambda r, t: deepnet.build(_bad_units()), SpecError,
                 ["model.layers[1].dense.units"], id="build-bad-spec"),
    pytest.param(lambda r, t: deepnet.build(None), DeepnetError, ["spec"], id="build-none"),
    pytest.param(lambda r, t: deepnet.train(42), SpecError, ["int"], id="item13-train-int"),
    pytest.param(lambda r, t: deepnet.train(str(t / "nope.yaml")), SpecError, ["nope.yaml"],
                 id="item13-train-missing-path"),
    pytest.param(lambda r, t: deepnet.train(mlp_spec() | {"bad": 1}, out=t / "run"),
                 SpecError, ["bad"], id="item13-train-dict-unknown-key"),
    pytest.param(lambda r, t: deepnet.train(_spec(), resume=t / "nope"), CheckpointError,
                 ["nope"], id="train-resume-missing"),
    pytest.param(lambda r, t: deepnet.audit(None), DeepnetError, ["spec"],
                 id="item13-audit-none"),
    pytest.param(lambda r, t: deepnet.tune(_spec()), DeepnetError, ["tune"],
                 id="tune-without-tune-section"),
    pytest.param(lambda r, t: deepnet.attack(r["digits"], "fgsmm"), DeepnetError, ["fgsmm"],
                 id="attack-unknown-method"),
    pytest.param(lambda r, t: deepnet.attack(r["digits"], "fgsm", eps=-1.0), DeepnetError,
                 ["eps"], id="attack-eps-negative"),
    pytest.param(lambda r, t: deepnet.evaluate(r["iris"], t / "nope.npz"), DataError,
                 ["nope.npz"], id="evaluate-data-missing"),
    # item 9: inputs at predict time
    pytest.param(lambda r, t: r["iris"].predict(_iris_rows(3, np.nan)), DataError, ["row 3"],
                 id="item9-run-predict-nan"),
    pytest.param(lambda r, t: r["iris"].predict_proba(_iris_rows(1, np.inf)), DataError,
                 ["row 1"], id="item9-run-predict-proba-inf"),
    pytest.param(lambda r, t: r["iris"].predict(_iris_rows(0, 1 + 2j, np.complex128)),
                 DataError, ["complex"], id="item9-run-predict-complex"),
    pytest.param(lambda r, t: r["iris"].predict(np.ones((2, 7), np.float32)), DataError,
                 ["(7,)", "(4,)"], id="run-predict-wrong-width"),
]


@pytest.fixture(scope="module")
def runs(digits_run, iris_run, tmp_path_factory):
    """The trained runs, loaded from copies (attack may write into its run)."""
    import shutil

    root = tmp_path_factory.mktemp("api-runs")
    out = {}
    for name, run in (("digits", digits_run), ("iris", iris_run)):
        shutil.copytree(run, root / name)
        out[name] = deepnet.load(root / name)
    return out


@pytest.mark.parametrize("call, kind, places", CASES)
def test_api_refusals(runs, tmp_path, call, kind, places):
    rejects(lambda: call(runs, tmp_path), kind, *places)


def test_item13_train_takes_a_dict_or_a_yaml_path(tmp_path):
    """deepnet.train(dict) and deepnet.train("spec.yaml") train the same run as a Spec."""
    spec = table_spec("iris", outputs=3, name="api")
    path = write_spec(tmp_path / "spec.yaml", spec)
    by_dict = deepnet.train(spec, out=tmp_path / "dict", quiet=True, report=False)
    by_path = deepnet.train(str(path), out=tmp_path / "path", quiet=True, report=False)
    by_spec = deepnet.train(deepnet.Spec.from_dict(spec), out=tmp_path / "spec", quiet=True,
                            report=False)
    assert by_dict.results.epochs == by_path.results.epochs == 1
    assert by_dict.results.test == by_path.results.test == by_spec.results.test
    assert (tmp_path / "path" / "model.safetensors").is_file()
