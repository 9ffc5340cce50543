"""A tune's importances come from a helper process that imports scikit-learn while the
trials run: its answer equals Optuna's fANOVA worked out in this process on the same
study, and a helper that cannot answer costs nothing but the wait."""

import sys

import optuna
import pytest

from deepnet.tune import importance
from deepnet.tune.importance import Helper


@pytest.fixture(scope="module")
def study():
    """14 complete trials of an objective that x moves most, then c, and z not at all."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(3))
    s.optimize(lambda t: 10 * t.suggest_float("x", 0, 1)
               + {"a": 0.0, "b": 2.0}[t.suggest_categorical("c", ["a", "b"])]
               + 0 * t.suggest_int("z", 1, 64, log=True), n_trials=14)
    return s


def _helper(monkeypatch) -> Helper:
    """A helper process, as in a process that has not imported scikit-learn yet."""
    monkeypatch.delitem(sys.modules, "sklearn.ensemble", raising=False)
    helper = Helper()
    assert helper.proc is not None
    return helper


def test_the_helpers_answer_is_optunas_fanova_here(study, monkeypatch):
    here = dict(optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=5)))
    with _helper(monkeypatch) as helper:
        answered = helper.importances(study, 5)
        assert helper.proc.returncode == 0  # it answered (no fallback here)
    assert answered == pytest.approx(here, abs=1e-12)
    assert list(answered) == list(here)  # the same order: most important first
    assert list(answered)[0] == "x" and answered["z"] < 0.05


def test_a_helper_that_died_leaves_the_importances_to_this_process(study, monkeypatch):
    helper = _helper(monkeypatch)
    helper.proc.kill()
    helper.proc.wait()
    assert helper.importances(study, 5) == importance.importances(study, 5) != {}


def test_no_helper_where_scikit_learn_is_imported_and_none_left_running(study, monkeypatch):
    import sklearn.ensemble  # noqa: F401

    assert Helper().proc is None
    helper = _helper(monkeypatch)
    helper.close()
    assert helper.proc.poll() is not None


def test_too_few_complete_trials_have_no_importances(monkeypatch):
    s = optuna.create_study()
    s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with _helper(monkeypatch) as helper:
        assert helper.importances(s, 0) == {}
