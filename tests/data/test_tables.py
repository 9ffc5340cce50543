"""deepnet.data.tables against pandas: CSV, TSV and Parquet tables, numeric and categorical
columns (one-hot, ordinal), the target, missing values (error, drop, impute), and messages
that name the row (0-based, header not counted) and the column."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepnet.core.errors import DataError
from deepnet.data.tables import load_table
from deepnet.spec import Spec
from factory import table_spec

N = 24


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": np.arange(N),
        "b": np.round(rng.normal(size=N), 3),
        "color": [("red", "green", "blue")[i % 3] for i in range(N)],
        "city": [("paris", "oslo", "lima", "rome", "kyiv")[(i * 7) % 5] for i in range(N)],
        "size": [1 + i % 3 for i in range(N)],
        "member": [i % 4 == 0 for i in range(N)],
        "label": ["yes" if i % 2 else "no" for i in range(N)],
    })


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def load(path: Path, task: str | None = None, **data):
    """load_table with a `data` section of the spec (keys of `data`, e.g. missing='drop')."""
    spec = Spec.from_dict(table_spec(path, **{f"data.{k}": v for k, v in data.items()}))
    return load_table(spec.data, Path(path), task)


def error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as e:
        load(*args, **kwargs)
    return str(e.value)


def onehot(series: pd.Series) -> np.ndarray:
    """Categories in sorted order, as pandas orders dummies."""
    return pd.get_dummies(series.astype(str)).to_numpy(dtype=np.float64)


def ordinal(series: pd.Series) -> np.ndarray:
    s = series.astype(str)
    return pd.Categorical(s, categories=sorted(s.unique())).codes[:, None].astype(np.float64)


def expected_x(df: pd.DataFrame, onehot_max=20, categorical=None) -> np.ndarray:
    """The encoding the module documents, built with pandas."""
    categorical = categorical or {}
    parts = []
    for name in [c for c in df.columns if c != "label"]:
        s = df[name]
        kind = categorical.get(name)
        if kind is None and (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            parts.append(s.to_numpy(dtype=np.float64)[:, None])
            continue
        if kind is None:
            kind = "onehot" if s.nunique() <= onehot_max else "ordinal"
        parts.append(onehot(s) if kind == "onehot" else ordinal(s))
    return np.concatenate(parts, axis=1).astype(np.float32)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_numbers_as_they_are_and_text_one_hot(tmp_path, suffix):
    df = frame()
    ds = load(write(df, tmp_path / f"t{suffix}"))
    assert ds.x.dtype == np.float32 and ds.x.shape == (N, 1 + 1 + 3 + 5 + 1 + 1)
    np.testing.assert_array_equal(ds.x, expected_x(df))
    assert ds.task == "classification" and ds.classes == ["no", "yes"]
    np.testing.assert_array_equal(ds.y, (df["label"] == "yes").astype(int))
    assert ds.rows is None and ds.source == str(tmp_path / f"t{suffix}")


def test_more_categories_than_onehot_max_are_ordinal(tmp_path):
    df = frame()
    ds = load(write(df, tmp_path / "t.csv"), onehot_max=3)  # city has 5, color 3
    np.testing.assert_array_equal(ds.x, expected_x(df, onehot_max=3))
    assert ds.x.shape == (N, 1 + 1 + 3 + 1 + 1 + 1)


def test_categorical_overrides_numbers_and_text(tmp_path):
    df = frame()
    categorical = {"size": "onehot", "color": "ordinal", "city": "onehot"}
    ds = load(write(df, tmp_path / "t.csv"), categorical=categorical)
    np.testing.assert_array_equal(ds.x, expected_x(df, categorical=categorical))
    assert ds.x.shape == (N, 1 + 1 + 1 + 5 + 3 + 1)


def test_mostly_text_with_some_numbers_is_categorical(tmp_path):
    df = frame()
    df["city"] = df["city"].where(df.index % 6 != 0, "12")  # a few look like numbers
    ds = load(write(df, tmp_path / "t.csv"))
    np.testing.assert_array_equal(ds.x, expected_x(df))


def test_features_pick_and_order_the_columns(tmp_path):
    df = frame()
    ds = load(write(df, tmp_path / "t.csv"), features=["color", "a"])
    np.testing.assert_array_equal(ds.x, expected_x(df[["color", "a", "label"]]))


def test_target_column(tmp_path):
    df = frame()
    ds = load(write(df, tmp_path / "t.csv"), target="b")  # floats: a regression
    assert ds.task == "regression" and ds.classes == []
    np.testing.assert_allclose(ds.y, df["b"], rtol=1e-6)
    assert ds.x.shape[1] == expected_x(df).shape[1] - 1 + 2  # label one-hot, b gone
    # a column named target comes before one named label
    ds = load(write(df.rename(columns={"a": "target"}), tmp_path / "t2.csv"))
    assert ds.task == "classification" and ds.classes == [str(i) for i in range(N)]
    ds = load(write(df, tmp_path / "t3.csv"), "regression", target="size")
    assert ds.task == "regression"
    np.testing.assert_array_equal(ds.y, df["size"])


def test_unknown_target_column_with_did_you_mean(tmp_path):
    path = write(frame(), tmp_path / "t.csv")
    msg = error(path, target="lable")
    assert msg.startswith(f"{path}: no target column 'lable' (did you mean 'label'?); the "
                          "table has columns 'a', 'b', 'color', 'city', 'size', 'member', "
                          "'label'")


def test_no_target_column_given_or_found(tmp_path):
    path = write(frame().rename(columns={"label": "outcome"}), tmp_path / "t.csv")
    assert error(path) == (f"{path}: which column is the target? Set data.target to one of "
                           "'a', 'b', 'color', 'city', 'size', 'member', 'outcome'")


def test_feature_and_categorical_columns_must_exist(tmp_path):
    path = write(frame(), tmp_path / "t.csv")
    assert "no feature column 'colour' (did you mean 'color'?)" in error(
        path, features=["a", "colour"])
    assert "data.features lists the target column 'label'" in error(
        path, features=["a", "label"])
    msg = error(path, features=["a", "b"], categorical={"color": "onehot"})
    assert msg.startswith(f"data.categorical: 'color' is not a feature column of {path}")


# ----------------------------------------------------------------------------- missing values
def with_gaps(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[3, "b"] = np.nan
    df.loc[3, "color"] = None
    df.loc[10, "city"] = None
    return df


def test_missing_error_names_every_row_and_column(tmp_path):
    path = write(with_gaps(frame()), tmp_path / "t.csv")
    assert error(path).splitlines() == [
        f"{path}: 3 problems:",
        "  row 3, column 'b': missing value",
        "  row 3, column 'color': missing value",
        "  row 10, column 'city': missing value",
        "fill the missing values, or set data.missing: drop (skip such rows) or impute"]


def test_missing_drop_keeps_source_row_numbers(tmp_path):
    df = with_gaps(frame())
    ds = load(write(df, tmp_path / "t.csv"), missing="drop")
    kept = df.dropna()
    np.testing.assert_array_equal(ds.rows, kept.index)
    assert len(ds.rows) == N - 2
    np.testing.assert_array_equal(ds.x, expected_x(kept))
    np.testing.assert_array_equal(ds.y, (kept["label"] == "yes").astype(int))


def test_errors_after_a_drop_name_the_row_of_the_file(tmp_path):
    df = with_gaps(frame()).astype({"a": object})
    df.loc[16, "a"] = "abc"  # one typo in a numeric column
    path = write(df, tmp_path / "t.csv")
    msg = error(path, missing="drop")
    assert msg.startswith(f"{path}: row 16, column 'a': 'abc' is not a number; the column "
                          "is numeric otherwise")
    assert "data.categorical" in msg
    df = frame().astype({"size": object})
    df.loc[3, "b"] = np.nan
    df.loc[20, "size"] = "high"
    msg = error(write(df, tmp_path / "r.csv"), "regression", target="size", missing="drop")
    assert "row 20, column 'size': the regression target 'high'" in msg


def test_missing_impute_fills_from_the_training_rows_only(tmp_path):
    train = np.array([0, 2, 3, 5, 6, 8, 9, 10, 11, 12])
    df = frame()
    in_train = np.isin(df.index, train)
    df["city"] = np.where(in_train, "oslo", "lima")  # the most frequent: oslo in train only
    df.loc[[2, 5], "city"] = "rome"
    df["color"] = np.where(in_train, "red", "green")
    df.loc[0, "color"] = "blue"
    df = with_gaps(df)
    ds = load(write(df, tmp_path / "t.csv"), missing="impute")
    assert ds.rows is None and ds.refit is not None
    fitted = ds.refit(train)
    part = df.iloc[train]
    filled = df.copy()
    filled.loc[3, "b"] = part["b"].median()
    filled.loc[3, "color"] = part["color"].mode()[0]
    filled.loc[10, "city"] = part["city"].mode()[0]
    assert (filled.loc[3, "color"], filled.loc[10, "city"]) == ("red", "oslo")
    assert (df["color"].mode()[0], df["city"].mode()[0]) == ("green", "lima")
    np.testing.assert_allclose(fitted.x, expected_x(filled), rtol=1e-6)
    assert part["b"].median() != df["b"].median()
    other = ds.refit(np.arange(12, N))  # other training rows, another median
    assert other.x[3, 1] == pytest.approx(df["b"].iloc[12:].median())


def test_a_missing_target_cannot_be_imputed(tmp_path):
    df = frame()
    df.loc[5, "label"] = None
    df.loc[2, "b"] = np.nan
    path = write(df, tmp_path / "t.csv")
    msg = error(path, missing="impute")
    assert msg.startswith(f"{path}: row 5, column 'label': missing value")
    assert "a missing target cannot be imputed" in msg
    assert load(path, missing="drop").rows.tolist() == [i for i in range(N) if i not in (2, 5)]


def test_drop_of_every_row(tmp_path):
    df = frame()
    df["b"] = np.nan
    assert "every row has a missing value" in error(write(df, tmp_path / "t.csv"),
                                                     missing="drop")


def test_an_infinite_value_names_row_and_column(tmp_path):
    df = frame()
    df.loc[4, "b"] = np.inf
    path = write(df, tmp_path / "t.csv")
    assert error(path).startswith(f"{path}: row 4, column 'b': value inf is not a finite number")


# ----------------------------------------------------------------------------- files
def test_unreadable_files(tmp_path):
    assert error(tmp_path / "none.csv") == f"{str(tmp_path / 'none.csv')!r} not found"
    (tmp_path / "empty.csv").write_text("")
    assert "the data set is empty" in error(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b,label\n")
    assert "the data set is empty (no rows found)" in error(tmp_path / "header.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    assert error(tmp_path / "bad.parquet").startswith(f"{tmp_path / 'bad.parquet'}: not a "
                                                       "readable")
    (tmp_path / "ragged.csv").write_text("a,label\n1,2\n3,4,5,6\n")
    assert error(tmp_path / "ragged.csv").startswith(f"{tmp_path / 'ragged.csv'}: not a "
                                                      "readable csv file")
