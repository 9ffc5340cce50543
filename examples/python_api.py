"""deepnet from Python, as the README's "Python" section shows it: a DataFrame in, a
scikit-learn pipeline with a grid search, and a layer of one's own.

    .venv/bin/python examples/python_api.py      # about 15 s on 2 CPU cores
"""

import tempfile
from typing import ClassVar

import torch
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import deepnet
from deepnet.sklearn import DeepNetClassifier

runs = tempfile.mkdtemp(prefix="deepnet-python-")

# 1. A DataFrame in: the target column by name, labels back as the data gave them.
df = load_breast_cancer(as_frame=True).frame
train_df, test_df = train_test_split(df, test_size=0.25, random_state=0, stratify=df.target)
spec = {"name": "cancer", "data": {"target": "target"},
        "model": {"layers": [{"dense": {"units": 32, "activation": "relu"}}, {"dense": 2}]},
        "train": {"epochs": 40}}
run = deepnet.train(spec, data=train_df, runs_root=runs, quiet=True)
x_test = test_df.drop(columns="target")
print("DataFrame: held-out accuracy",
      round(accuracy_score(test_df.target, run.predict(x_test[x_test.columns[::-1]])), 4))

# 2. scikit-learn: cross-validation, and a grid search over two learning rates.
X, y = load_breast_cancer(return_X_y=True)
scores = cross_val_score(DeepNetClassifier(), X, y, cv=5)
print("cross_val_score (5 folds): mean accuracy", round(scores.mean(), 4))
grid = GridSearchCV(make_pipeline(StandardScaler(), DeepNetClassifier(train__epochs=30)),
                    {"deepnetclassifier__train__optimizer__lr": [1e-3, 1e-2]}, cv=3)
grid.fit(X, y)
print("GridSearchCV: best", grid.best_params_, "score", round(grid.best_score_, 4))


# 3. A layer of one's own, used from the spec like a built-in one.
class GatedArgs(deepnet.LayerArgs):
    main: ClassVar[str] = "units"
    units: int


class Gated(nn.Module):
    def __init__(self, n_in: int, units: int):
        super().__init__()
        self.value, self.gate = nn.Linear(n_in, units), nn.Linear(n_in, units)

    def forward(self, x):
        return self.value(x) * torch.sigmoid(self.gate(x))


deepnet.register_layer("gated", lambda args, shape: Gated(shape[-1], args.units), GatedArgs)
digits = {"name": "digits-gated", "data": "digits", "train": {"epochs": 10},
          "model": {"layers": [{"flatten": None}, {"gated": 64}, {"dense": 10}]}}
summary = deepnet.summary(digits)
print(summary, summary.note, sep="\n")
run = deepnet.train(digits, runs_root=runs, quiet=True)
print("gated layer on digits: test accuracy", round(run.results.test["accuracy"], 4))
