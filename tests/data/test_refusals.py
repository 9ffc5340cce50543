"""Bad data refused where it is read (issue 13, items 8, 10, 11 and 14): values that are no
finite float32 number, every bad value listed (a capped list with the count), a target of
one class, repeated CSV headers, a file that is not UTF-8 and an .npz of Python objects.
Each is a DataError naming the file, the row (0-based, header not counted) and column."""

import numpy as np
import pytest
from PIL import Image

from deepnet.core.errors import DataError
from deepnet.data.checks import MAX_LISTED, BadValues, check_finite, encode_target
from deepnet.data.sources import load_npz, load_source
from deepnet.data.tables import read_frame
from deepnet.spec import Spec
from factory import table_spec

N = 20


def csv_text(n: int = N, **cells: str) -> str:
    """Columns a (0, 1, ...), b (0.5, 1.5, 2.5, ...), label (0/1); `cells` maps 'row:column'
    to the text put in that cell."""
    rows = [[str(i), f"{i % 3 + 0.5}", str(i % 2)] for i in range(n)]
    for key, value in cells.items():
        r, c = key.split(":")
        rows[int(r)][["a", "b", "label"].index(c)] = value
    return "a,b,label\n" + "".join(",".join(r) + "\n" for r in rows)


def load(path, task=None, **data):
    spec = Spec.from_dict(table_spec(path, **{f"data.{k}": v for k, v in data.items()}))
    return load_source(spec.data, task)


def error(path, task=None, **data) -> str:
    with pytest.raises(DataError) as e:
        load(path, task, **data)
    return str(e.value)


def write(tmp_path, text: str | bytes, name: str = "t.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ----------------------------------------------------------------------------- item 8
def test_a_value_beyond_float32_is_refused_at_its_row_and_column(tmp_path):
    path = write(tmp_path, csv_text(**{"4:b": "1e308"}))
    assert error(path) == (
        f"{path}: row 4, column 'b': value 1e+308 is too large: beyond ±3.4e+38, the range of "
        "the 32-bit floats models compute in; fix or remove those rows")
    path = write(tmp_path, csv_text(**{"7:a": "-3e39"}))  # a column that is ints otherwise
    assert error(path).startswith(f"{path}: row 7, column 'a': value -3e+39 is too large")
    assert load(write(tmp_path, csv_text(**{"7:a": "-3e38"}))).x[7, 0] == pytest.approx(-3e38)


@pytest.mark.parametrize("text, value", [("inf", "inf"), ("-inf", "-inf"),
                                         ("1e400", "inf")])
def test_infinite_values_are_refused(tmp_path, text, value):
    path = write(tmp_path, csv_text(**{"5:b": text}))
    assert error(path).startswith(f"{path}: row 5, column 'b': value {value} is not a finite "
                                  "number; fix or remove those rows")


def test_nan_and_empty_cells_are_missing_values(tmp_path):
    """pandas reads 'nan' and an empty cell as missing: data.missing decides."""
    path = write(tmp_path, csv_text(**{"3:b": "nan", "9:b": ""}))
    assert error(path).splitlines()[:3] == [f"{path}: 2 problems:",
                                            "  row 3, column 'b': missing value",
                                            "  row 9, column 'b': missing value"]
    assert load(path, missing="drop").rows.tolist() == [i for i in range(N) if i not in (3, 9)]


def test_a_regression_target_beyond_float32(tmp_path):
    path = write(tmp_path, csv_text(**{"6:label": "1e300"}))
    msg = error(path, "regression")
    assert msg.startswith(f"{path}: row 6, column 'label': the regression target value 1e+300 "
                          "is too large")


def test_npz_values_are_checked_before_float32(tmp_path):
    """1e308 in a float64 x is named as it is in the file, not as the inf it would become."""
    x = np.random.default_rng(0).normal(size=(N, 3))
    x[5, 1], x[11, 2] = 1e308, np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(N) % 2)
    msg = error(tmp_path / "d.npz")
    assert msg.splitlines()[:3] == [f"{tmp_path / 'd.npz'}: 2 problems:",
                                    "  row 5, feature 1: value 1e+308 is too large: beyond "
                                    "±3.4e+38, the range of the 32-bit floats models compute in",
                                    "  row 11, feature 2: value nan is not a finite number"]
    y = (np.arange(N) % 2).astype(np.float64)
    y[[3, 8]] = np.inf, np.nan
    np.savez(tmp_path / "y.npz", x=np.ones((N, 2), np.float32), y=y)
    msg = error(tmp_path / "y.npz")
    assert "row 3: value inf is not a finite number" in msg
    assert "row 8: value nan is not a finite number" in msg and "labels y" in msg


def test_complex_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.ones((N, 2), np.complex64), y=np.arange(N) % 2)
    assert error(tmp_path / "c.npz") == (
        f"{tmp_path / 'c.npz'}: x must hold real numbers; got complex ones (complex64): pass "
        "the real part (x.real), or the real and imaginary parts as separate features")
    np.savez(tmp_path / "cy.npz", x=np.ones((N, 2)), y=np.ones(N, np.complex128))
    assert "y must hold real numbers or strings; got complex128" in error(tmp_path / "cy.npz")


# ----------------------------------------------------------------------------- item 10
def test_every_bad_row_is_named(tmp_path):
    path = write(tmp_path, csv_text(**{f"{r}:a": f"x{r}" for r in (2, 7, 14)}))
    assert error(path).splitlines() == [
        f"{path}: 3 problems:",
        "  row 2, column 'a': 'x2' is not a number",
        "  row 7, column 'a': 'x7' is not a number",
        "  row 14, column 'a': 'x14' is not a number",
        "the column is numeric otherwise: fix the values, or list the column under "
        "data.categorical to treat it as categories"]


def test_problems_of_several_kinds_and_columns_by_row(tmp_path):
    path = write(tmp_path, csv_text(**{"2:a": "x", "7:b": "", "14:b": "inf", "1:b": "1e39"}))
    lines = error(path).splitlines()
    assert lines[:5] == [f"{path}: 4 problems:",
                         "  row 1, column 'b': value 1e+39 is too large: beyond ±3.4e+38, "
                         "the range of the 32-bit floats models compute in",
                         "  row 2, column 'a': 'x' is not a number",
                         "  row 7, column 'b': missing value",
                         "  row 14, column 'b': value inf is not a finite number"]
    advice = lines[5]  # each kind's advice once
    for part in ("data.categorical", "fix or remove those rows", "data.missing"):
        assert advice.count(part) == 1, advice


def test_the_list_is_capped_with_the_count(tmp_path):
    path = write(tmp_path, csv_text(40, **{f"{r}:b": "?" for r in range(2, 40, 3)}))
    lines = error(path).splitlines()
    assert lines[0] == f"{path}: 13 problems:"
    assert lines[1:MAX_LISTED + 1] == [f"  row {r}, column 'b': '?' is not a number"
                                       for r in range(2, 2 + 3 * MAX_LISTED, 3)]
    assert lines[MAX_LISTED + 1] == "  ... and 3 more (13 in all)"


def test_bad_values_cap_and_count():
    found = BadValues("d.csv", rows=np.arange(100) * 2)  # source rows: every second one
    found.add(40, ((i, "column 'a'", "bad") for i in range(40)), "fix them")
    found.add(1, iter([(0, "column 'b'", "worse")]), "fix them")
    with pytest.raises(DataError) as e:
        found.raise_all()
    lines = str(e.value).splitlines()
    assert lines[0] == "d.csv: 41 problems:"
    assert lines[1:3] == ["  row 0, column 'a': bad", "  row 0, column 'b': worse"]
    assert lines[-3:] == ["  row 16, column 'a': bad", "  ... and 31 more (41 in all)",
                          "fix them"]
    BadValues("d.csv").raise_all()  # nothing found: nothing raised


def test_check_finite_lists_a_huge_array_lazily():
    x = np.full((100_000, 8), np.nan, np.float32)
    with pytest.raises(DataError) as e:
        check_finite(x, "big.npz")
    lines = str(e.value).splitlines()
    assert lines[0] == "big.npz: 800000 problems:"
    assert lines[MAX_LISTED] == "  row 1, feature 1: value nan is not a finite number"
    assert lines[MAX_LISTED + 1] == "  ... and 799990 more (800000 in all)"


def test_missing_targets_listed(tmp_path):
    path = write(tmp_path, csv_text(**{"4:label": "", "12:label": ""}))
    msg = error(path, missing="impute")
    assert msg.splitlines()[:3] == [f"{path}: 2 problems:",
                                    "  row 4, column 'label': missing value",
                                    "  row 12, column 'label': missing value"]
    assert "a missing target cannot be imputed" in msg


# ----------------------------------------------------------------------------- item 11
def test_a_single_class_table_is_refused(tmp_path):
    path = write(tmp_path, csv_text(**{f"{r}:label": "yes" for r in range(N)}))
    msg = error(path)
    assert msg == (f"{path}: the target 'label' has only one class, 'yes'; a classifier "
                   "learns to tell classes apart and needs examples of two at least: add rows "
                   "of the other classes, or set data.target to the column to predict")
    assert "units" not in msg  # not the advice of a one-output layer
    assert error(write(tmp_path, csv_text(**{f"{r}:label": "3" for r in range(N)})),
                 "classification").startswith(f"{path}: the target 'label' has only one "
                                               "class, '3'")


def test_a_single_class_npz_text_and_image_folder(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((N, 2), np.float32), y=np.zeros(N, np.int64))
    assert "the target 'y' has only one class, '0'" in error(tmp_path / "d.npz")
    text = "text,label\n" + "".join(f"good day {i},pos\n" for i in range(N))
    path = write(tmp_path, text, "text.csv")
    assert "the target 'label' has only one class, 'pos'" in error(path, text={"max_len": 4})
    root = tmp_path / "imgs" / "cat"
    root.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (4, 4), color=40 * i).save(root / f"{i}.png")
    msg = error(tmp_path / "imgs")
    assert msg.startswith(f"{tmp_path / 'imgs'}: the folder (one subfolder of images per "
                          "class) has only one class, 'cat'")
    assert "add a subfolder of images for each other class" in msg


def test_two_classes_and_regressions_pass():
    assert encode_target(np.array(["a", "b", "a"]), None, "d")[1] == ["a", "b"]
    y, names, task = encode_target(np.full(5, 2.5), "regression", "d")
    assert task == "regression" and names == [] and y.tolist() == [2.5] * 5


# ----------------------------------------------------------------------------- item 14
def test_a_repeated_header_is_refused(tmp_path):
    path = write(tmp_path, "a,b,a,label,b\n1,2,3,0,4\n1,2,3,1,4\n")
    with pytest.raises(DataError) as e:
        read_frame(path)
    assert str(e.value) == (f"{path}: column names must be unique, but the header repeats "
                            "'a' (columns 1, 3); 'b' (columns 2, 5); rename the columns so that "
                            "each name is used once")
    tsv = write(tmp_path, "x\tx\tlabel\n1\t2\t0\n", "t.tsv")
    with pytest.raises(DataError, match=r"repeats 'x' \(columns 1, 2\)"):
        read_frame(tsv)


def test_names_pandas_would_make_are_not_repeats(tmp_path):
    frame = read_frame(write(tmp_path, "a,a.1,,,label\n1,2,3,4,0\n"))
    assert list(frame.columns) == ["a", "a.1", "Unnamed: 2", "Unnamed: 3", "label"]

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array([1]), pa.array([2]), pa.array([0])], names=["a", "a", "label"])
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"the header repeats 'a' \(columns 1, 2\)"):
        read_frame(tmp_path / "t.parquet")


@pytest.mark.parametrize("row", [3, 4000])  # within and beyond pandas' first buffer
def test_a_byte_that_is_not_utf8_is_named_by_line_and_byte(tmp_path, row):
    text = csv_text(5000).encode()
    lines = text.split(b"\n")
    lines[row + 1] = lines[row + 1].replace(b",", b",\xe9", 1)  # 'caf\xe9' in Latin-1
    path = write(tmp_path, b"\n".join(lines))
    at = len(str(row)) + 2  # after the number and the comma
    offset = sum(len(line) + 1 for line in lines[:row + 1]) + at - 1
    assert error(path) == (
        f"{path}: not UTF-8 text: line {row + 2} (the header is line 1), byte {at} of that "
        f"line (byte {offset} of the file) is 'e9', which is no UTF-8 character; save the "
        "file as UTF-8 (e.g. in a spreadsheet: CSV UTF-8)")


def test_an_npz_of_objects_is_never_unpickled(tmp_path):
    x = np.empty(4, dtype=object)
    x[:] = [[1.0], [2.0], [3.0], [4.0]]
    np.savez(tmp_path / "o.npz", x=x, y=np.arange(4) % 2)
    with pytest.raises(DataError) as e:
        load_npz(tmp_path / "o.npz")
    msg = str(e.value)
    assert msg.startswith(f"{str(tmp_path / 'o.npz')!r} is not a readable .npz file for "
                          "deepnet: its array 'x' holds Python objects")
    assert "deepnet never unpickles a file" in msg and "np.savez(path, x=np.asarray(x" in msg
    assert "allow_pickle" not in msg
    np.savez(tmp_path / "oy.npz", x=np.ones((4, 1)), y=np.array([{}, {}, 1, 2], dtype=object))
    with pytest.raises(DataError, match="its array 'y' holds Python objects"):
        load_npz(tmp_path / "oy.npz")


@pytest.mark.parametrize("damage", ["text", "truncated", "header"])
def test_a_damaged_npz_is_a_data_error(tmp_path, damage):
    np.savez_compressed(tmp_path / "ok.npz", x=np.random.default_rng(0).random((50, 4)))
    data = (tmp_path / "ok.npz").read_bytes()
    path = tmp_path / "d.npz"
    path.write_bytes({"text": b"not a zip file", "truncated": data[:len(data) // 2],
                      "header": data[:200] + b"\0" * 60 + data[260:]}[damage])
    with pytest.raises(DataError) as e:
        load_npz(path)
    msg = str(e.value)
    assert msg.startswith(f"{str(path)!r} is not a readable .npz file: ")
    assert "allow_pickle" not in msg and "pickle.load" not in msg
    if damage == "text":  # numpy takes what is no archive for a pickle: we never unpickle
        assert "it is no .npz archive" in msg and "deepnet never unpickles a file" in msg
