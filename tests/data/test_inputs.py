"""deepnet.data.inputs.read_raw: new files read for predict and `evaluate --data` the way
training read its data, with the encoding that training saved (here taken from the
training loader itself): .npz, tables, text tables and image folders."""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepnet.core.errors import DataError
from deepnet.data.inputs import read_raw
from deepnet.data.sources import load_source
from deepnet.spec import Spec
from factory import table_spec


def trained(source: Path, **data):
    """The Dataset (with its encoding) that training would load from `source`."""
    spec = Spec.from_dict(table_spec(source, **{f"data.{k}": v for k, v in data.items()}))
    return load_source(spec.data)


def error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as e:
        read_raw(*args, **kwargs)
    return str(e.value)


# ----------------------------------------------------------------------------- tables
def table(n=12) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(n) * 1.5, "color": [("red", "blue", "green")[i % 3]
                                                            for i in range(n)],
                         "grade": [("a", "b", "c", "d", "e")[i % 5] for i in range(n)],
                         "label": ["yes" if i % 2 else "no" for i in range(n)]})


@pytest.fixture
def table_run(tmp_path):
    """(training frame, Dataset): color one-hot, grade ordinal (onehot_max 3)."""
    df = table()
    df.to_csv(tmp_path / "train.csv", index=False)
    return df, trained(tmp_path / "train.csv", onehot_max=3)


def test_a_table_is_encoded_as_in_training(tmp_path, table_run):
    df, ds = table_run
    x, labels, paths = read_raw(ds.encoding, tmp_path / "train.csv", labelled=True)
    np.testing.assert_array_equal(x, ds.x)
    assert list(labels) == list(df["label"]) and paths is None
    # features only, in another order, with an extra column: by name
    df[["grade", "a", "color"]].assign(extra=1).to_parquet(tmp_path / "new.parquet")
    x, labels, _ = read_raw(ds.encoding, tmp_path / "new.parquet")
    np.testing.assert_array_equal(x, ds.x)
    assert labels is None


def test_unknown_categories_are_all_zeros_one_hot_and_minus_one_ordinal(tmp_path, table_run):
    _, ds = table_run
    pd.DataFrame({"a": [3.0], "color": ["purple"], "grade": ["z"]}).to_csv(
        tmp_path / "new.csv", index=False)
    x, _, _ = read_raw(ds.encoding, tmp_path / "new.csv")
    np.testing.assert_array_equal(x, [[3.0, 0, 0, 0, -1]])  # a, blue green red, grade


def test_table_problems_name_row_and_column(tmp_path, table_run):
    df, ds = table_run
    bad = df.astype({"a": object})
    bad.loc[4, "a"] = "wide"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert error(ds.encoding, tmp_path / "bad.csv").startswith(
        f"{tmp_path / 'bad.csv'}: row 4, column 'a': 'wide' is not a number")
    gap = df.copy()
    gap.loc[2, "color"] = None
    gap.to_csv(tmp_path / "gap.csv", index=False)
    assert error(ds.encoding, tmp_path / "gap.csv").startswith(
        f"{tmp_path / 'gap.csv'}: row 2, column 'color': missing value")
    unlabelled = df.copy()
    unlabelled.loc[5, "label"] = None
    unlabelled.to_csv(tmp_path / "nolabel.csv", index=False)
    assert error(ds.encoding, tmp_path / "nolabel.csv", labelled=True) == (
        f"{tmp_path / 'nolabel.csv'}: row 5, column 'label': missing label; fill the labels, "
        "or remove those rows")
    read_raw(ds.encoding, tmp_path / "nolabel.csv")  # unlabelled use: the label is not read
    df.drop(columns="label").to_csv(tmp_path / "x.csv", index=False)
    assert "no target column 'label'" in error(ds.encoding, tmp_path / "x.csv", labelled=True)
    df.drop(columns="color").to_csv(tmp_path / "short.csv", index=False)
    assert "no feature column 'color'" in error(ds.encoding, tmp_path / "short.csv")


def test_imputed_training_fills_gaps_with_the_training_values(tmp_path):
    df = table()
    df.loc[1, "a"] = np.nan
    df.to_csv(tmp_path / "train.csv", index=False)
    train = np.arange(7)  # red 3 times, blue and green twice
    ds = trained(tmp_path / "train.csv", missing="impute").refit(train)
    pd.DataFrame({"a": [None, 2.0], "color": ["green", None], "grade": ["b", "b"]}).to_csv(
        tmp_path / "new.csv", index=False)
    x, _, _ = read_raw(ds.encoding, tmp_path / "new.csv")
    assert x[0, 0] == pytest.approx(df["a"].iloc[train].median())
    assert x[1, 0] == 2.0
    assert x[:, 1:4].tolist() == [[0, 1, 0], [0, 0, 1]]  # blue green red: green, then red


def test_an_array_run_reads_a_csv_as_numbers(tmp_path):
    df = pd.DataFrame({"x0": [1.0, 2.0], "x1": [3.0, 4.5], "target": [0, 1]})
    df.to_csv(tmp_path / "rows.csv", index=False)
    x, labels, _ = read_raw(None, tmp_path / "rows.csv", labelled=True)
    np.testing.assert_array_equal(x, df[["x0", "x1"]].to_numpy(np.float32))
    assert list(labels) == [0, 1]


# ----------------------------------------------------------------------------- npz
def test_npz(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    np.savez(tmp_path / "x.npz", x=x)
    got, labels, paths = read_raw(None, tmp_path / "x.npz")
    np.testing.assert_array_equal(got, x)
    assert labels is None and paths is None
    msg = error(None, tmp_path / "x.npz", labelled=True)
    assert "no array named 'y' of labels (found: x)" in msg
    np.savez(tmp_path / "xy.npz", x=x, y=np.array([1, 0, 1, 1]))
    assert list(read_raw(None, tmp_path / "xy.npz", labelled=True)[1]) == [1, 0, 1, 1]


def test_wrong_kinds_of_input(tmp_path, table_run):
    _, ds = table_run
    (tmp_path / "folder").mkdir()
    assert error(ds.encoding, tmp_path / "folder") == (
        f"{tmp_path / 'folder'} is a folder, but this run was trained on tables; pass a file "
        "of that kind")
    assert error(None, tmp_path / "nope.csv") == f"{str(tmp_path / 'nope.csv')!r} not found"
    (tmp_path / "notes.txt").write_text("a,b\n")
    assert "unknown kind of file; expected .csv, .tsv, .parquet, .npz" in error(
        None, tmp_path / "notes.txt")


# ----------------------------------------------------------------------------- text
TEXTS = ["good good film", "bad film", "good day", "bad bad bad day", "a good film",
         "not bad", "good fun", "bad acting"] * 2


def vocabulary(texts: list[str]) -> list[str]:
    """The documented rule: padding, unknown, then words by falling count, ties by spelling."""
    counts = Counter(w for t in texts for w in t.split())
    return ["<pad>", "<unk>", *sorted(counts, key=lambda w: (-counts[w], w))]


def test_a_text_table_is_tokenised_with_the_training_vocabulary(tmp_path):
    pd.DataFrame({"review": TEXTS, "label": [i % 2 for i in range(len(TEXTS))]}).to_csv(
        tmp_path / "train.csv", index=False)
    ds = trained(tmp_path / "train.csv", text={"column": "review", "max_len": 3})
    pd.DataFrame({"review": ["Good FILM, unseen words!", "bad", None]}).to_csv(
        tmp_path / "new.csv", index=False)
    x, labels, _ = read_raw(ds.encoding, tmp_path / "new.csv")
    ids = {w: i for i, w in enumerate(vocabulary(TEXTS))}
    assert x.dtype == np.int64
    np.testing.assert_array_equal(x, [[ids["good"], ids["film"], 1],  # first 3 words kept
                                      [0, 0, ids["bad"]],  # padded on the left
                                      [0, 0, 0]])  # an empty text
    x, labels, _ = read_raw(ds.encoding, tmp_path / "train.csv", labelled=True)
    np.testing.assert_array_equal(x, ds.x)
    assert list(labels) == [i % 2 for i in range(len(TEXTS))]
    pd.DataFrame({"text": ["good"]}).to_csv(tmp_path / "other.csv", index=False)
    assert "no text column 'review'" in error(ds.encoding, tmp_path / "other.csv")


# ----------------------------------------------------------------------------- images
def save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def image_run(tmp_path):
    """The Dataset of a training folder of 6x6 grayscale images in two classes."""
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(3):
            save_png(tmp_path / "train" / c / f"{i}.png",
                     rng.integers(0, 256, (6, 6), dtype=np.uint8))
    return trained(tmp_path / "train")


def test_an_image_folder_is_decoded_at_the_training_size_and_channels(tmp_path, image_run):
    rng = np.random.default_rng(1)
    rgb = [rng.integers(0, 256, (8, 10, 3), dtype=np.uint8) for _ in range(3)]
    for i, pixels in enumerate(rgb):  # other size, colour: resized and made gray
        save_png(tmp_path / "new" / f"{2 - i}.png", pixels)
    (tmp_path / "new" / "readme.txt").write_text("not an image")
    x, labels, paths = read_raw(image_run.encoding, tmp_path / "new")
    assert paths == [str(tmp_path / "new" / f"{i}.png") for i in range(3)]  # sorted
    assert labels is None and x.shape == (3, 1, 6, 6) and x.dtype == np.float32
    for i, pixels in enumerate(rgb):
        want = Image.fromarray(pixels).convert("L").resize((6, 6), Image.Resampling.BILINEAR)
        np.testing.assert_allclose(x[2 - i, 0], np.asarray(want) / 255.0, rtol=1e-6)


def test_labelled_images_are_read_from_class_folders(tmp_path, image_run):
    x, labels, paths = read_raw(image_run.encoding, tmp_path / "train", labelled=True)
    np.testing.assert_allclose(x, image_run.x)
    assert list(labels) == ["cat"] * 3 + ["dog"] * 3
    assert paths[0] == str(tmp_path / "train" / "cat" / "0.png")


def test_image_problems(tmp_path, image_run):
    save_png(tmp_path / "loose" / "a.png", np.zeros((6, 6), np.uint8))
    assert "labelled images are root/<class>/*.png" in error(
        image_run.encoding, tmp_path / "loose", labelled=True)
    (tmp_path / "empty").mkdir()
    assert "empty" in error(image_run.encoding, tmp_path / "empty")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "t.csv", index=False)
    assert "this run was trained on images; pass a folder of images" in error(
        image_run.encoding, tmp_path / "t.csv")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 1, 6, 6), np.float32))  # arrays will do
    assert read_raw(image_run.encoding, tmp_path / "x.npz")[0].shape == (2, 1, 6, 6)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "b.png").write_bytes(b"\x89PNG not an image")
    assert "b.png: cannot decode the image" in error(image_run.encoding, tmp_path / "broken")
