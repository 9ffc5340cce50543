"""scikit-learn estimators: a deepnet spec trained by `fit`, usable in a `Pipeline`,
`cross_val_score` and `GridSearchCV`.

    from deepnet.sklearn import DeepNetClassifier
    clf = DeepNetClassifier("examples/breast_cancer.yaml", train__epochs=50)
    cross_val_score(clf, X, y, cv=5)
    GridSearchCV(clf, {"train__optimizer__lr": [1e-3, 1e-2]}).fit(X, y)

`spec` is a Spec, a dict of one or a YAML path (its data section's settings apply, but
not its source: `fit` trains on X and y); None gives a small network for tables (DEFAULT_LAYERS, then an output layer
for the data). Any other keyword is a change of the spec at a path, in `--set` syntax
with `__` or `.` between the keys (`train__epochs=50`, `**{"train.epochs": 50}`); they
are parameters like the others (get_params, set_params, clone, grid searches). The spec
is read and changed at `fit`, so a bad spec or change is an error there, never in
`__init__` or `set_params`.

`fit` keeps all the rows but the spec's validation split (data.split.val, for early
stopping and the weights kept) for training: there is no test split (score the model with
scikit-learn). A DataFrame keeps its columns' names and types: categorical and text
columns go through deepnet's encodings, and `predict` matches columns by name. Arrays are
checked the way scikit-learn checks them, with scikit-learn's own errors (NotFittedError,
a ValueError for a wrong number of features or unsuitable labels); bad data deepnet finds
raise `EstimatorError`, both a ValueError (as scikit-learn expects) and a DeepnetError.

By default the run directory of a fit is temporary (removed when fit returns: the model
stays in memory as `run_`); `runs_root` keeps each fit's run there.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from deepnet.core.errors import DeepnetError
from deepnet.data.checks import InputRangeWarning
from deepnet.data.memory import check_rows

# The hidden layers of the default network; `fit` adds the output layer.
DEFAULT_LAYERS = [{"dense": {"units": 64, "activation": "relu"}},
                  {"dense": {"units": 64, "activation": "relu"}}]
DEFAULT_TRAIN = {"epochs": 100, "batch_size": 32, "early_stopping": {"patience": 10}}


class EstimatorError(DeepnetError, ValueError):
    """Bad input to a deepnet estimator (a ValueError, as scikit-learn expects)."""


def _path(key: str) -> str:
    return key.replace("__", ".")


class _DeepNet(BaseEstimator):
    _task: str

    def __init__(self, spec=None, *, random_state=None, runs_root=None, **changes):
        self.spec = spec
        self.random_state = random_state
        self.runs_root = runs_root
        self._changes = dict(changes)

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**super().get_params(deep), **self._changes}

    def set_params(self, **params):
        own = set(self._get_param_names())
        for key, value in params.items():
            if key in own:
                setattr(self, key, value)
            else:
                self._changes[key] = value
        return self

    # ------------------------------------------------------------------ the spec
    def _resolved_spec(self, n_outputs: int, stratify: bool = True):
        """The spec to train: `spec` (or the default) with the changes, the task and seed."""
        from deepnet.spec import Spec

        if self.spec is None:
            raw = {"name": type(self).__name__, "model": {"layers": [
                *DEFAULT_LAYERS, {"dense": n_outputs}]}, "train": DEFAULT_TRAIN}
        else:
            raw = Spec.coerce(self.spec, data=True).to_dict()  # X and y: no data section needed
        changes = {_path(k): v for k, v in self._changes.items()}
        changes.update({"task": self._task, "data.split.test": 0.0})
        if not stratify:  # a class of one row: the validation rows are drawn from all
            changes["data.split.stratify"] = False
        if self.random_state is not None:
            if not isinstance(self.random_state, int | np.integer):
                raise EstimatorError(f"random_state: expected an int seed or None; got "
                                     f"{self.random_state!r} (a RandomState cannot seed a "
                                     "spec)")
            changes["seed"] = int(self.random_state)
        raw["data"] = {**raw.get("data", {}), "source": "memory"}  # X and y, at fit
        return Spec.from_dict(raw, changes=changes, source=f"{type(self).__name__} spec")

    # ------------------------------------------------------------------ data
    def _inputs(self, X, reset: bool):
        """X checked as scikit-learn checks it (a DataFrame: its names and width only;
        deepnet checks its values by column)."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        return validate_data(self, X, reset=reset, dtype="numeric")

    def _fit(self, X, y, n_outputs: int, stratify: bool = True):
        from deepnet.app.train import train

        spec = self._resolved_spec(n_outputs, stratify)
        with tempfile.TemporaryDirectory(prefix="deepnet-fit-") as tmp:
            root = Path(tmp) if self.runs_root is None else Path(self.runs_root)
            self.run_ = train(spec, data=(X, y), runs_root=root, quiet=True, report=False)
        self.n_epochs_ = self.run_.results.epochs
        return self

    def fit(self, X, y):
        """Train the spec on X (an array, tensor or DataFrame) and y; returns self."""
        if y is None:
            raise EstimatorError(f"{type(self).__name__} requires y to be passed, but the "
                                 "target y is None")
        with _errors():
            if isinstance(X, pd.DataFrame):
                self._inputs(X, reset=True)
                y = column_or_1d(np.asarray(y), warn=True)
                check_rows(len(X), y, "y")
            else:
                X, y = validate_data(self, X, y, dtype="numeric", ensure_min_samples=2,
                                     y_numeric=self._task == "regression")
            return self._fit_checked(X, y)

    def _call(self, method: str, X):
        check_is_fitted(self)
        X = self._inputs(X, reset=False)
        with _errors(), warnings.catch_warnings():  # held-out folds leave the training range
            warnings.filterwarnings("ignore", category=InputRangeWarning)
            return getattr(self.run_, method)(X)

    def predict(self, X) -> np.ndarray:
        """Labels (of the training labels' type) or values for X."""
        return self._call("predict", X)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """deepnet's errors for bad input as EstimatorError, the ValueError scikit-learn expects."""
    try:
        yield
    except DeepnetError as e:
        if isinstance(e, ValueError):
            raise
        raise EstimatorError(str(e)) from None


class DeepNetClassifier(ClassifierMixin, _DeepNet):
    """A deepnet spec as a scikit-learn classifier (see the module's doc). After `fit`:
    `classes_` (the labels, sorted as np.unique sorts them; predict_proba's columns),
    `n_features_in_`, `feature_names_in_` (a DataFrame's), `run_` (the deepnet Run,
    trained on the classes' indices in classes_)."""

    _task = "classification"

    def _fit_checked(self, X, y):
        check_classification_targets(y)
        # deepnet trains on the classes' indices in np.unique's order, so that classes_
        # and predict_proba's columns are scikit-learn's order whatever the labels
        classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
        self._fit(X, index, len(classes), stratify=bool(min(counts) >= 2))
        self.classes_ = classes
        return self

    def predict(self, X) -> np.ndarray:
        index = self._call("predict", X)  # first: an unfitted estimator says so
        return self.classes_[index]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, classes), column j for `classes_[j]`."""
        return self._call("predict_proba", X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = False
        return tags


class DeepNetRegressor(RegressorMixin, _DeepNet):
    """A deepnet spec as a scikit-learn regressor of one target (see the module's doc).
    After `fit`: `n_features_in_`, `feature_names_in_` (a DataFrame's), `run_`."""

    _task = "regression"

    def _fit_checked(self, X, y):
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise EstimatorError(f"y: a regression needs numbers as targets: {e}") from None
        return self._fit(X, y, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        return tags
