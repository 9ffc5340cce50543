"""Every bad input is exit code 2 with a message that names the place, before training."""

import numpy as np
import pytest
from PIL import Image


def expect(result, *parts):
    code, err = result
    assert code == 2, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, f"{part!r} not in {err!r}"
    return err


def write_csv(path, text):
    path.write_text(text)
    return str(path)


TABLE = "a,b,color,label\n" + "".join(
    f"{i},{i % 3 + 0.5},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(20))


def bad_table(tmp_path, row, column, value):
    lines = TABLE.splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    return write_csv(tmp_path / "t.csv", "\n".join(lines) + "\n")


def test_nan_in_npz_features(tmp_path, train_cli):
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    x[7, 2] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 2)
    expect(train_cli({"source": str(tmp_path / "d.npz")}), "d.npz", "row 7", "feature 2", "nan")


def test_inf_in_table(tmp_path, train_cli):
    path = bad_table(tmp_path, 4, "b", "inf")
    expect(train_cli({"source": path}), "t.csv", "row 4", "column 'b'", "inf")


def test_non_numeric_value_in_numeric_column(tmp_path, train_cli):
    path = bad_table(tmp_path, 5, "a", "abc")
    expect(train_cli({"source": path}), "t.csv", "row 5", "column 'a'", "'abc'", "not a number")


def test_missing_value_with_missing_error(tmp_path, train_cli):
    path = bad_table(tmp_path, 3, "b", "")
    expect(train_cli({"source": path}), "t.csv", "row 3", "column 'b'", "missing value",
           "data.missing")


def test_missing_target_column(tmp_path, train_cli):
    path = write_csv(tmp_path / "t.csv", TABLE)
    expect(train_cli({"source": path, "target": "lable"}), "t.csv", "target column 'lable'",
           "did you mean 'label'")


def test_missing_feature_column(tmp_path, train_cli):
    path = write_csv(tmp_path / "t.csv", TABLE)
    expect(train_cli({"source": path, "features": ["a", "colour"]}), "t.csv",
           "feature column 'colour'", "did you mean 'color'")


def test_non_numeric_regression_target(tmp_path, train_cli):
    path = bad_table(tmp_path, 6, "label", "high")
    layers = [{"dense": {"units": 1}}]
    expect(train_cli({"source": path}, layers, task="regression"), "t.csv", "row 6",
           "column 'label'", "'high'", "regression")


def test_class_with_one_example_when_stratified(tmp_path, train_cli):
    path = bad_table(tmp_path, 9, "label", "rare")
    expect(train_cli({"source": path}), "t.csv", "class 'rare'", "only row 9", "at least 2")


def test_x_y_length_mismatch(tmp_path, train_cli):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3), np.float32), y=np.zeros(9, np.int64))
    expect(train_cli({"source": str(tmp_path / "d.npz")}), "d.npz", "x has 10 rows",
           "y has 9")


@pytest.mark.parametrize("kind", ["csv", "npz", "images"])
def test_empty_data(tmp_path, train_cli, kind):
    if kind == "csv":
        source = write_csv(tmp_path / "e.csv", "a,b,label\n")
    elif kind == "npz":
        source = str(tmp_path / "e.npz")
        np.savez(source, x=np.zeros((0, 3), np.float32), y=np.zeros(0, np.int64))
    else:
        (tmp_path / "imgs" / "cat").mkdir(parents=True)
        source = str(tmp_path / "imgs")
    expect(train_cli({"source": source}), source, "empty")


def _images(root, sizes):
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            Image.new("L", size, color=40 * i).save(root / c / f"{i}.png")


def test_undecodable_image(tmp_path, train_cli):
    root = tmp_path / "imgs"
    _images(root, [(8, 8)] * 3)
    (root / "b" / "broken.png").write_bytes(b"\x89PNG not really an image")
    expect(train_cli({"source": str(root)}), "broken.png", "cannot decode")


def test_images_of_different_sizes_without_image_size(tmp_path, train_cli):
    root = tmp_path / "imgs"
    _images(root, [(8, 8), (8, 8), (10, 12)])
    err = expect(train_cli({"source": str(root)}), "differ in size", "2.png", "12x10",
                 "image_size")
    assert train_cli({"source": str(root), "image_size": 8})[0] == 0, err


def test_data_shape_does_not_fit_first_layer(train_cli):
    layers = [{"conv2d": {"filters": 4, "kernel": 3}}, {"flatten": {}}, {"dense": 2}]
    expect(train_cli({"source": "breast_cancer"}, layers), "breast_cancer", "(30,)",
           "model.layers[0]", "conv2d", "(channels, height, width)")


def test_token_ids_without_embedding_and_too_small_vocabulary(tmp_path, train_cli):
    rows = "".join(f"{'good day' if i % 2 else 'bad day'} number {i},{i % 2}\n"
                   for i in range(30))
    path = write_csv(tmp_path / "t.csv", "text,label\n" + rows)
    data = {"source": path, "text": {"max_len": 4}}
    expect(train_cli(data), "t.csv", "token ids", "embedding")
    small = [{"embedding": {"vocab": 5, "dim": 4}}, {"flatten": {}}, {"dense": 2}]
    expect(train_cli(data, small), "t.csv", "embedding.vocab is 5", "at least")


def test_image_augmentation_on_a_table(train_cli):
    expect(train_cli({"source": "iris", "augment": [{"noise": 0.1}, {"rotate": 10}]},
                     [{"dense": 3}]),
           "data.augment[1]", "rotate is an image augmentation", "(4,)")


def test_unknown_source_and_missing_file(tmp_path, train_cli):
    expect(train_cli({"source": "breast_cancr"}), "did you mean 'breast_cancer'")
    expect(train_cli({"source": str(tmp_path / "nope.csv")}), "nope.csv", "not found")


def test_corrupt_npz_and_csv(tmp_path, train_cli):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    expect(train_cli({"source": str(tmp_path / "bad.npz")}), "bad.npz", "not a readable")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    expect(train_cli({"source": str(tmp_path / "bad.parquet")}), "bad.parquet")


def test_predict_inputs_are_checked(tmp_path, train_cli, capsys):
    from deepnet.cli import main

    assert train_cli({"source": "iris"}, [{"dense": 3}])[0] == 0
    run = str(tmp_path / "run")
    (tmp_path / "imgs").mkdir()
    assert main(["predict", run, str(tmp_path / "imgs")]) == 2
    assert "trained on tables" in capsys.readouterr().err
    header = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
    (tmp_path / "rows.csv").write_text(header + "5.1,3.5,1.4,0.2\n6.0,wide,4.5,1.5\n")
    assert main(["predict", run, str(tmp_path / "rows.csv")]) == 2
    err = capsys.readouterr().err
    assert "rows.csv" in err and "row 1" in err and "'sepal width (cm)'" in err
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    assert main(["predict", run, str(tmp_path / "cols.csv")]) == 2
    assert "no feature column 'sepal length (cm)'" in capsys.readouterr().err
    assert main(["evaluate", run, "--data", str(tmp_path / "rows.csv")]) == 2
    assert "no target column 'target'" in capsys.readouterr().err


def test_a_text_of_no_words_is_refused_naming_its_row(tmp_path, capsys):
    from deepnet.cli import main

    path = tmp_path / "texts.csv"
    path.write_text('text,label\ngood movie,1\n"!!! ...",0\nbad film,0\n,1\n')
    spec = tmp_path / "s.yaml"
    spec.write_text(f"data: {{source: {path}, text: text, target: label, missing: impute}}\n"
                    "model: {layers: [embedding: {vocab: 10}, globalavgpool: {}, dense: 2]}\n")
    assert main(["train", str(spec), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "row 1, column 'text': the text '!!! ...' has no word" in err
    assert "row 3" not in err  # a missing text, imputed empty, is the user's choice
