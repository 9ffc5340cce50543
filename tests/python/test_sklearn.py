"""deepnet.sklearn: scikit-learn's own estimator checks, and the estimators in
cross-validation, grid search and pipelines against scikit-learn's MLP on the same data."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import deepnet
from deepnet.sklearn import DeepNetClassifier, DeepNetRegressor, EstimatorError

# Every check passes: none is expected to fail. (30 epochs keep the ~100 fits quick.)
CHECKED = [DeepNetClassifier(train__epochs=30), DeepNetRegressor(train__epochs=30)]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch on read-only (memmap) arrays
        check(estimator)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


def test_cross_validation_on_breast_cancer_matches_scikit_learns_mlp(cancer):
    x, y = cancer
    ours = cross_val_score(DeepNetClassifier(), x, y, cv=5)
    theirs = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(
        (64, 64), max_iter=300, early_stopping=True, random_state=0)), x, y, cv=5)
    assert ours.mean() >= 0.96, ours
    assert ours.mean() >= theirs.mean() - 0.02, (ours, theirs)


def test_grid_search_over_two_learning_rates_refits(cancer):
    x, y = cancer
    grid = GridSearchCV(make_pipeline(StandardScaler(), DeepNetClassifier(train__epochs=15)),
                        {"deepnetclassifier__train__optimizer__lr": [1e-3, 1e-2]}, cv=3)
    grid.fit(x, y)
    best = grid.best_estimator_[-1]
    assert best.run_.spec.train.optimizer.lr == grid.best_params_[
        "deepnetclassifier__train__optimizer__lr"]
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.score(x, y) > 0.9


def test_a_spec_with_changes_in_set_syntax(cancer, tmp_path):
    x, y = cancer
    spec = {"name": "bc", "data": {"source": "breast_cancer", "normalize": "minmax"},
            "model": {"layers": [{"dense": {"units": 8, "activation": "relu"}}, {"dense": 2}]},
            "train": {"epochs": 5}}
    (tmp_path / "bc.yaml").write_text(deepnet.Spec.coerce(spec).to_yaml())
    clf = DeepNetClassifier(str(tmp_path / "bc.yaml"), **{"train.epochs": 4},
                            train__batch_size=16, random_state=3).fit(x, y)
    s = clf.run_.spec
    assert (s.train.epochs, s.train.batch_size, s.seed) == (4, 16, 3)
    assert s.data.normalize == "minmax" and s.data.source == "memory"
    assert s.data.split.test == 0
    assert clf.get_params()["train.epochs"] == 4
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "run_")
    same = clone(clf).fit(x, y)  # the same spec and seed: the same weights
    assert np.array_equal(same.predict_proba(x), clf.predict_proba(x))
    with pytest.raises(EstimatorError, match="unknown key 'epoch'"):
        DeepNetClassifier(spec, train__epoch=3).fit(x, y)
    with pytest.raises(ValueError, match="outputs"):
        DeepNetClassifier(spec, **{"model.layers[1].dense.units": 3}).fit(x, y)


def test_labels_dataframes_and_pickling(cancer):
    x, y = cancer
    names = np.array(["malignant", "benign"])[y]
    clf = DeepNetClassifier(train__epochs=20).fit(x, names)
    assert list(clf.classes_) == ["benign", "malignant"]
    assert accuracy_score(names, clf.predict(x)) > 0.9
    frame = load_breast_cancer(as_frame=True).data
    on_frame = DeepNetClassifier(train__epochs=20).fit(frame, y)
    assert list(on_frame.feature_names_in_) == list(frame.columns)
    assert on_frame.n_features_in_ == 30
    assert on_frame.predict(frame).dtype == np.int64
    again = pickle.loads(pickle.dumps(on_frame))
    assert np.array_equal(again.predict_proba(frame), on_frame.predict_proba(frame))


def test_categorical_dataframe_in_a_pipeline():
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({"plan": rng.choice(["basic", "pro", "team"], n),
                       "months": rng.integers(1, 48, n)})
    churn = (df["plan"] == "basic") & (df["months"] < 12)
    clf = DeepNetClassifier(train__epochs=60, train__optimizer__lr=0.01).fit(df, churn)
    assert list(clf.classes_) == [False, True]
    assert accuracy_score(churn, clf.predict(df)) > 0.9


def test_regressor_on_diabetes_scores_like_linear_regression():
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import cross_val_score

    x, y = load_diabetes(return_X_y=True)
    ours = cross_val_score(DeepNetRegressor(train__optimizer__lr=0.01), x, y, cv=3)
    theirs = cross_val_score(LinearRegression(), x, y, cv=3)
    assert ours.mean() > theirs.mean() - 0.1, (ours, theirs)


def test_classes_are_in_numpys_order_whatever_the_labels(cancer):
    from sklearn.metrics import log_loss

    x, y = cancer
    labels = np.array(["9", "10", "a"])[np.where(x[:, 0] > 15, 2, y)]
    clf = DeepNetClassifier(train__epochs=10).fit(x, labels)
    assert list(clf.classes_) == list(np.unique(labels)) == ["10", "9", "a"]
    proba = clf.predict_proba(x)
    assert (clf.classes_[proba.argmax(1)] == clf.predict(x)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about the order of the labels
        assert log_loss(labels, proba, labels=clf.classes_) < 1.0
    with pytest.raises(EstimatorError, match="a regression needs numbers"):
        DeepNetRegressor().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), ["x", "y", "z"])
