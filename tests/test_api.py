"""The Python API (`import deepnet`, issue 13 item 13): the entry points take a spec as a
Spec, a dict or the path of a YAML file, and a run as a Run or its directory; anything
else is the documented error (SpecError for a spec, CheckpointError for a run,
DeepnetError for a number out of range), never an AttributeError or a silent result."""

import json
import math
from pathlib import Path

import pytest

import deepnet
from deepnet import CheckpointError, DeepnetError, SpecError
from deepnet.cli import main
from factory import mlp_spec, write_spec

SPEC_EXPECTED = "spec: expected a deepnet.Spec, a dict of one or the path of a YAML spec file"
RUN_EXPECTED = "run: expected a deepnet.Run or the path of a run directory (a str or Path)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A digits MLP trained for one epoch from a plain dict."""
    out = tmp_path_factory.mktemp("api") / "run"
    run = deepnet.train(mlp_spec(epochs=1, name="api"), out=out, quiet=True)
    assert isinstance(run, deepnet.Run) and run.path == out
    return out


def test_train_takes_a_dict(trained):
    assert deepnet.load(trained).spec.name == "api"
    assert deepnet.load(trained).results.epochs == 1


@pytest.mark.parametrize("as_text", [True, False])
def test_train_takes_a_yaml_path(tmp_path, as_text):
    path = write_spec(tmp_path / "s.yaml", mlp_spec(epochs=1, name="from-file"))
    run = deepnet.train(str(path) if as_text else path, out=tmp_path / "run", quiet=True)
    assert run.spec.name == "from-file" and run.results.epochs == 1


PARAMS = 64 * 32 + 32 + 32 * 10 + 10  # the MLP of mlp_spec on digits


@pytest.mark.parametrize("measure", [
    pytest.param(lambda s: deepnet.summary(s).total_params, id="summary"),
    pytest.param(lambda s: sum(p.numel() for p in deepnet.build(s).parameters()), id="build"),
    pytest.param(lambda s: deepnet.estimate_memory(s, (1, 8, 8), 4).parameters // 4,
                 id="estimate_memory"),
])
def test_spec_taking_functions_take_every_form(tmp_path, measure):
    raw = mlp_spec()
    path = write_spec(tmp_path / "s.yaml", raw)
    forms = (deepnet.Spec.from_dict(raw), raw, path, str(path))
    assert [measure(form) for form in forms] == [PARAMS] * 4


@pytest.mark.parametrize("name", ["train", "summary", "build", "audit", "tune"])
@pytest.mark.parametrize("value, shown", [(None, "NoneType None"), (42, "int 42"),
                                          ([], "list []")])
def test_a_spec_argument_of_another_type_is_a_spec_error(name, value, shown):
    with pytest.raises(SpecError) as e:
        getattr(deepnet, name)(value)
    assert str(e.value) == f"{SPEC_EXPECTED}; got {shown}"


def test_a_missing_spec_file_or_an_invalid_dict_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match=r"spec file '.*nope\.yaml' not found"):
        deepnet.train(tmp_path / "nope.yaml", out=tmp_path / "run")
    with pytest.raises(SpecError, match=r"^spec: 1 problem in the spec:\n  model: required"):
        deepnet.summary({"data": {"source": "digits"}})
    with pytest.raises(SpecError, match=r"\n  name: the name is a folder's"):
        deepnet.train(mlp_spec(name="../escaped"), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("call", [
    pytest.param(lambda r: deepnet.diagnose(r), id="diagnose"),
    pytest.param(lambda r: deepnet.evaluate(r), id="evaluate"),
    pytest.param(lambda r: deepnet.attack(r, "fgsm"), id="attack"),
    pytest.param(lambda r: deepnet.load(r), id="load"),
])
@pytest.mark.parametrize("value, shown", [(None, "NoneType None"), (3, "int 3"),
                                          ({"path": "x"}, "dict {'path': 'x'}")])
def test_a_run_argument_of_another_type_is_a_checkpoint_error(call, value, shown):
    with pytest.raises(CheckpointError) as e:
        call(value)
    assert str(e.value) == f"{RUN_EXPECTED}; got {shown}"


def test_run_taking_functions_take_a_run_or_its_path(trained):
    run = deepnet.load(trained)
    assert deepnet.load(run) is run
    by_path, by_run = deepnet.evaluate(str(trained)), deepnet.evaluate(run)
    assert by_path == by_run and 0 <= by_run["accuracy"] <= 1
    assert [f.kind for f in deepnet.diagnose(trained)] == [f.kind for f in deepnet.diagnose(run)]
    r = deepnet.attack(trained, "fgsm", eps=0.05, limit=20)
    assert r.n == 20 and 0 <= r.robust_accuracy <= r.clean_accuracy


def test_a_missing_run_directory_is_a_checkpoint_error(tmp_path):
    for call in (deepnet.diagnose, deepnet.evaluate, deepnet.attack):
        with pytest.raises(CheckpointError, match=f"'{tmp_path / 'nope'}' not found"):
            call(tmp_path / "nope")


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": -5}, "batch_size must be a positive integer; got -5"),
    ({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer; got 2.5"),
    ({"batch_size": True}, "batch_size must be a positive integer; got True"),
    ({"batch_size": "64"}, "batch_size must be a positive integer; got '64'"),
    ({"memory_budget": -1}, "memory_budget (bytes) must be a positive integer; got -1"),
    ({"memory_budget": 1.5e9}, "memory_budget (bytes) must be a positive integer; got 1500000000.0"),
    ({"tflops": 0}, "tflops (TFLOP/s) must be a positive number; got 0"),
    ({"tflops": math.inf}, "tflops (TFLOP/s) must be a positive number; got inf"),
    ({"tflops": math.nan}, "tflops (TFLOP/s) must be a positive number; got nan"),
    ({"tflops": "fast"}, "tflops (TFLOP/s) must be a positive number; got 'fast'"),
])
def test_summary_refuses_numbers_out_of_range(kwargs, message):
    with pytest.raises(DeepnetError) as e:
        deepnet.summary(mlp_spec(), **kwargs)
    assert str(e.value) == message


def test_summary_numbers_in_range():
    s = deepnet.summary(mlp_spec(), batch_size=8, memory_budget=10**8)
    assert s.batch_size == 8 and s.memory.total > 0 and s.max_batch > 8
    assert deepnet.summary(mlp_spec()).batch_size == 64  # train.batch_size
    import numpy as np

    assert deepnet.summary(mlp_spec(), batch_size=np.int64(4)).batch_size == 4


@pytest.mark.parametrize("batch_size", [0, -1, 1.0, None])
def test_estimate_memory_refuses_a_batch_size_that_is_not_positive(batch_size):
    with pytest.raises(DeepnetError, match="^batch size must be a positive integer"):
        deepnet.estimate_memory(mlp_spec(), (1, 8, 8), batch_size)


# ----------------------------------------------------------------------------- --json
def test_json_output_is_strict_with_null_for_nan(capsys, monkeypatch):
    import deepnet.app.train
    import deepnet.runs.load

    monkeypatch.setattr(deepnet.runs.load, "load", lambda path: path)
    monkeypatch.setattr(deepnet.app.train, "evaluate_run",
                        lambda run, data: {"loss": math.nan, "accuracy": 0.1})
    assert main(["evaluate", "some-run", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out, parse_constant=lambda token: pytest.fail(f"bare {token}"))
    assert data == {"loss": None, "accuracy": 0.1, "non_finite": {"/loss": "NaN"}}
