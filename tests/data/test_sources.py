"""Each data source: built-ins, synthetic, tables (CSV, Parquet), .npz, image folders, text."""

import numpy as np
import pytest
from PIL import Image

from deepnet.core.errors import DataError
from deepnet.data.prepare import prepare
from deepnet.data.sources import SOURCES, load_source, read_once
from deepnet.data.split import split_indices
from deepnet.spec import Data, Spec


def spec_for(data: dict, **top) -> Spec:
    return Spec.from_dict({"data": data, "model": {"layers": [{"flatten": {}}, {"dense": 2}]},
                           **top})


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "iris"])
def test_builtin_tables_match_scikit_learn(name):
    import sklearn.datasets

    ref = getattr(sklearn.datasets, f"load_{name}")()
    ds = SOURCES[name](Data(source=name))
    np.testing.assert_allclose(ds.x, ref.data, rtol=1e-6)
    assert (ds.y == ref.target).all() and ds.classes == list(ref.target_names)
    assert [c.name for c in ds.encoding.columns] == list(ref.feature_names)
    assert ds.task == "classification"


def test_builtin_diabetes_is_a_regression():
    import sklearn.datasets

    ref = sklearn.datasets.load_diabetes(scaled=False)
    ds = load_source(Data(source="diabetes"))
    np.testing.assert_allclose(ds.x, ref.data, rtol=1e-6)
    np.testing.assert_allclose(ds.y, ref.target)
    assert ds.task == "regression" and ds.classes == []


@pytest.mark.parametrize("kind, shape, task", [
    ("classification", (300, 6), "classification"),
    ("regression", (300, 6), "regression"),
    ("sequence", (300, 12, 6), "classification"),
])
def test_synthetic_is_seeded_with_parameters(kind, shape, task):
    data = Data(source="synthetic", synthetic={"kind": kind, "samples": 300, "features": 6,
                                               "classes": 3, "steps": 12, "noise": 0.2})
    a, b = load_source(data), load_source(data)
    assert a.x.shape == shape and a.task == task and a.x.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    if task == "classification":
        assert a.classes == ["0", "1", "2"] and set(a.y) == {0, 1, 2}


TABLE = """age,income,city,member,label
34,52000,paris,yes,buy
51,,london,no,skip
28,31000,paris,yes,buy
45,75000,berlin,no,skip
39,48000,london,yes,buy
62,91000,paris,no,skip
23,22000,berlin,yes,buy
57,66000,london,no,skip
"""


def test_csv_table_numeric_and_categorical_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    ds = load_source(Data(source=str(path), target="label", missing="drop",
                          categorical={"member": "ordinal"}))
    # row 1 has no income: dropped, and the rest keep their source row numbers
    assert list(ds.rows) == [0, 2, 3, 4, 5, 6, 7]
    cols = ds.encoding.columns
    assert [c.type for c in cols] == ["numeric", "numeric", "onehot", "ordinal"]
    assert cols[2].categories == ["berlin", "london", "paris"]
    assert ds.x.shape == (7, 2 + 3 + 1)
    np.testing.assert_array_equal(ds.x[0], [34, 52000, 0, 0, 1, 1])  # paris, member yes = 1
    assert ds.classes == ["buy", "skip"] and list(ds.y[:2]) == [0, 0]


def test_table_features_subset_and_onehot_threshold(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    ds = load_source(Data(source=str(path), features=["age", "city"], onehot_max=2))
    assert [c.type for c in ds.encoding.columns] == ["numeric", "ordinal"]
    assert ds.x.shape == (8, 2) and ds.rows is None


def test_impute_uses_training_rows_only(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    spec = spec_for({"source": str(path), "missing": "impute", "split": {"val": 0.25,
                                                                          "test": 0.25}})
    p = prepare(spec)
    train = p.splits["train"]
    incomes = np.array([52000, np.nan, 31000, 75000, 48000, 91000, 22000, 66000])
    want = np.nanmedian(incomes[train])
    assert p.dataset.encoding.columns[1].fill == want
    assert p.dataset.x[1, 1] == want


def test_parquet_table(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(10.0), "b": list("xyxyxyxyxy"), "target": [0, 1] * 5})
    frame.to_parquet(tmp_path / "t.parquet")
    ds = load_source(Data(source=str(tmp_path / "t.parquet")))
    assert ds.x.shape == (10, 3) and ds.task == "classification" and ds.classes == ["0", "1"]


def test_regression_target_inferred_from_numbers(tmp_path):
    rows = "".join(f"{i},{i * 0.37 + 1.1}\n" for i in range(60))
    (tmp_path / "r.csv").write_text("x,target\n" + rows)
    ds = load_source(Data(source=str(tmp_path / "r.csv")))
    assert ds.task == "regression" and ds.y.dtype == np.float32


def test_read_once_reads_each_data_section_once(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x,target\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    data = Data(source=str(path))
    with read_once():
        first = load_source(data)
        other = load_source(data, "regression")  # another task: read again
        assert other is not first and other.task == "regression"
        path.unlink()  # a second read of the same section needs no file
        assert load_source(Data(source=str(path))) is first
        assert load_source(data, "regression") is other
    with pytest.raises(DataError, match="not found"):  # outside read_once every call reads
        load_source(data)
    with read_once(), pytest.raises(DataError, match="not found"):
        load_source(data)  # nothing is kept from one read_once to the next


def test_read_once_keeps_the_sections_used_last(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x,target\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    a, b, c = (Data(source=str(path), split={"val": v}) for v in (0.1, 0.2, 0.3))
    with read_once():
        first = {"a": load_source(a), "b": load_source(b)}
        assert load_source(a) is first["a"]  # a is now the one used last
        load_source(c)  # three sections: b, used least recently, is let go
        assert load_source(a) is first["a"]
        assert load_source(b) is not first["b"]


def test_npz_tables_and_sequences(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(30, 5)), y=np.arange(30) % 3)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(30, 7, 2)), y=np.array(["a", "b"] * 15))
    t = load_source(Data(source=str(tmp_path / "t.npz")))
    s = load_source(Data(source=str(tmp_path / "s.npz")))
    assert t.input_shape == (5,) and t.x.dtype == np.float32 and t.classes == ["0", "1", "2"]
    assert s.input_shape == (7, 2) and s.classes == ["a", "b"]


def test_npz_is_never_unpickled(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "o.npz", x=np.array([[1], [2]], dtype=object), y=np.array([0, 1]))
    from deepnet.core.errors import DataError

    with pytest.raises(DataError, match="not a readable"):
        load_source(Data(source=str(tmp_path / "o.npz")))


def make_images(root, n=6, size=(8, 8), mode="L"):
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            value = (i * 20 + (100 if c == "dog" else 0)) % 256
            color = value if mode == "L" else (value, 255 - value, 7)
            Image.new(mode, size, color=color).save(root / c / f"{i}.png")


def test_image_folder(tmp_path):
    make_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("not an image, ignored")
    ds = load_source(Data(source=str(tmp_path / "imgs")))
    assert ds.x.shape == (12, 1, 8, 8) and ds.classes == ["cat", "dog"]
    assert list(ds.y) == [0] * 6 + [1] * 6
    assert ds.x[7, 0, 0, 0] == pytest.approx(120 / 255)
    assert ds.encoding.to_json() == {"kind": "image", "size": [8, 8], "channels": 1}


def test_image_folder_resize_and_channels(tmp_path):
    make_images(tmp_path / "imgs", size=(10, 6), mode="RGB")
    ds = load_source(Data(source=str(tmp_path / "imgs"), image_size=[4, 5]))
    assert ds.x.shape == (12, 3, 4, 5)
    gray = load_source(Data(source=str(tmp_path / "imgs"), image_size=4, channels=1))
    assert gray.x.shape == (12, 1, 4, 4)


def test_text_vocabulary_is_fitted_on_the_training_split(tmp_path):
    from deepnet.data.split import split_indices

    held = int(split_indices(np.arange(40) % 2, "classification", 0.15, 0.15, 0)["test"][0])
    rows = [f"the movie was {'good' if i % 2 else 'bad'} indeed,{i % 2}" for i in range(40)]
    rows[held] = f"a completely unseen phrase here,{held % 2}"
    (tmp_path / "t.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    spec = spec_for({"source": str(tmp_path / "t.csv"), "text": {"max_len": 6}})
    p = prepare(spec)
    vocab = p.dataset.encoding.vocab
    assert vocab[:2] == ["<pad>", "<unk>"]
    assert held in p.splits["test"]
    assert "unseen" not in vocab  # a held-out row's words are not in the vocabulary
    assert "movie" in vocab
    assert p.dataset.x.dtype == np.int64 and p.dataset.input_shape == (6,)
    first = p.dataset.x[held]
    assert list(first[:1]) == [0] and set(first[1:]) == {1}  # left-padded, all unknown
    assert p.preprocess.mode == "none"


def test_text_tokens_limits(tmp_path):
    from deepnet.data.text import encode_texts, fit_vocabulary, tokenize

    assert tokenize("It ISN'T bad, really!") == ["it", "isn't", "bad", "really"]
    docs = [["a", "b", "a"], ["b", "a", "c"], ["d"]]
    vocab = fit_vocabulary(docs, min_freq=2, vocab_size=10)
    assert vocab == ["<pad>", "<unk>", "a", "b"]
    assert fit_vocabulary(docs, 1, 3) == ["<pad>", "<unk>", "a"]
    np.testing.assert_array_equal(encode_texts(docs, vocab, 2), [[2, 3], [3, 2], [0, 1]])


def test_an_unstratified_split_takes_a_class_of_one_row():
    y = np.array([0] * 10 + [1] * 9 + [2])
    with pytest.raises(DataError, match="at least 2 rows of each class"):
        split_indices(y, "classification", 0.2, 0.0, seed=0)
    parts = split_indices(y, "classification", 0.2, 0.0, seed=0, stratify=False)
    assert len(parts["val"]) == 4 and len(parts["train"]) == 16
    assert sorted(np.concatenate([parts["train"], parts["val"]])) == list(range(20))
    # the same rows as a regression split of the same size and seed: one permutation
    same = split_indices(y.astype(np.float32), "regression", 0.2, 0.0, seed=0)
    assert all(np.array_equal(parts[k], same[k]) for k in parts)
