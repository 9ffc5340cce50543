"""Data sources by name: each loader returns a Dataset of raw inputs and targets.

Raw inputs are what a user hands to `predict`: the digits' pixels in [0, 1], a table's
values. Nothing is downloaded: the built-in sets ship inside scikit-learn, `synthetic` is
generated, and anything else is a path: a .csv/.parquet table (a text table when
`data.text` is set), an .npz of arrays `x` and `y`, or an image folder root/<class>/*.png.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import tokenize
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError, did_you_mean
from deepnet.core.lazy import lazy
from deepnet.core.registry import Registry
from deepnet.data import memory, series
from deepnet.data.audio import holds_sound, load_audio
from deepnet.data.checks import check_numeric
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import ArrayEncoding, ArrayInput, Column, TableEncoding, pack_arrays
from deepnet.data.given import parts_given, stack_arrays
from deepnet.data.images import load_images
from deepnet.data.tables import TABLE_SUFFIXES, file_kind, load_table, read_frame
from deepnet.data.text import load_text

pd = lazy("pandas")


def sklearn_data_file(name: str) -> Path:
    """A data file shipped inside scikit-learn, found without importing it (seconds)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("the built-in data sets need scikit-learn; run `make setup`")
    return Path(spec.origin).parent / "datasets" / "data" / name


def _digits(data, task=None) -> Dataset:
    # scikit-learn's load_digits reads this same file; reading it directly avoids
    # importing scikit-learn (about 2 s) on every command.
    raw = np.loadtxt(sklearn_data_file("digits.csv.gz"), delimiter=",", dtype=np.float32)
    x = (raw[:, :-1] / 16.0).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8), pixels in [0, 1]
    y = raw[:, -1].astype(np.int64)
    return Dataset(x, y, "classification", [str(c) for c in range(10)], "digits",
                   labels=list(range(10)))


def _table(x: np.ndarray, names: list[str]) -> TableEncoding:
    return TableEncoding("target", [Column(n) for n in names])


def _sklearn_csv(file: str, name: str, features: list[str]) -> Callable:
    """A scikit-learn CSV: a header line `n, features, class names...`, then rows."""

    def load(data, task=None) -> Dataset:
        path = sklearn_data_file(file)
        with open(path) as f:
            classes = [c.strip() for c in f.readline().strip().split(",")[2:]]
        raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        x, y = raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int64)
        return Dataset(x, y, "classification", classes, name, encoding=_table(x, features),
                       labels=list(range(len(classes))))  # scikit-learn's load_* targets

    return load


def _diabetes(data, task=None) -> Dataset:
    with gzip.open(sklearn_data_file("diabetes_data_raw.csv.gz")) as f:
        x = np.loadtxt(f, dtype=np.float32)
    with gzip.open(sklearn_data_file("diabetes_target.csv.gz")) as f:
        y = np.loadtxt(f, dtype=np.float32)
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    return Dataset(x, y, "regression", [], "diabetes", encoding=_table(x, names))


_CANCER = ["radius", "texture", "perimeter", "area", "smoothness", "compactness",
           "concavity", "concave points", "symmetry", "fractal dimension"]
_WINE = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
         "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
         "od280/od315_of_diluted_wines", "proline"]
_IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def synthetic(data, task=None) -> Dataset:
    """Seeded data of `data.synthetic`: classification (classes from a noisy linear
    score), regression (a noisy linear plus sine target) or sequence (classes by the
    frequency of a noisy wave of shape (steps, features))."""
    s = data.synthetic
    rng = np.random.default_rng(12345 + s.samples + 7 * s.features)
    n, f = s.samples, s.features
    if s.kind == "sequence":
        y = np.arange(n) % s.classes
        rng.shuffle(y)
        t = np.linspace(0, 1, s.steps, endpoint=False)[None, :, None]
        phase = rng.uniform(0, 2 * np.pi, (n, 1, f))
        freq = (y + 1)[:, None, None]
        x = np.sin(2 * np.pi * freq * t + phase) + s.noise * rng.standard_normal((n, s.steps, f))
        classes = [str(c) for c in range(s.classes)]
        return Dataset(x.astype(np.float32), y.astype(np.int64), "classification", classes,
                       "synthetic", labels=list(range(s.classes)))
    x = rng.standard_normal((n, f))
    if s.kind == "regression":
        w = rng.standard_normal(f)
        y = x @ w + np.sin(2 * x[:, 0]) + s.noise * rng.standard_normal(n)
        return Dataset(x.astype(np.float32), y.astype(np.float32), "regression", [],
                       "synthetic", encoding=_table(x, [f"x{i}" for i in range(f)]))
    w = rng.standard_normal((f, s.classes))
    y = np.argmax(x @ w + s.noise * rng.standard_normal((n, s.classes)), axis=1)
    classes = [str(c) for c in range(s.classes)]
    return Dataset(x.astype(np.float32), y.astype(np.int64), "classification", classes,
                   "synthetic", encoding=_table(x, [f"x{i}" for i in range(f)]),
                   labels=list(range(s.classes)))


def _passed_in_python(data, task=None) -> Dataset:
    raise DataError(
        f"data.source: {memory.SOURCE!r}: this spec's data were passed in Python (the run's "
        "data.json describes them: shape, dtypes, SHA-256); pass them again, e.g. "
        "deepnet.train(spec, data=df), or set data.source to a file")


# Built-in data sets by name: fn(spec.data, task) -> Dataset.
SOURCES: Registry[Callable] = Registry("data source", {
    "digits": _digits,
    "breast_cancer": _sklearn_csv("breast_cancer.csv", "breast_cancer",
                                  [f"mean {c}" for c in _CANCER]
                                  + [f"{c} error" for c in _CANCER]
                                  + [f"worst {c}" for c in _CANCER]),
    "wine": _sklearn_csv("wine_data.csv", "wine", _WINE),
    "iris": _sklearn_csv("iris.csv", "iris", _IRIS),
    "diabetes": _diabetes,
    "synthetic": synthetic,
    memory.SOURCE: _passed_in_python,
})


def _statsmodels(name: str, column: str, prepare: Callable) -> Callable[[], pd.DataFrame]:
    """A series data set that statsmodels ships (nothing is downloaded), as a table."""
    def load():
        try:
            module = importlib.import_module(f"statsmodels.datasets.{name}")
        except ImportError:
            raise DataError(f"data.source: {name!r} is a data set of statsmodels, which is not "
                            "installed; pip install -c constraints.txt 'deepnet[series]'") from None
        return prepare(module.load_pandas().data)[[column]]
    return load


# Series shipped inside installed packages, by name: fn() -> DataFrame (data.series).
SERIES: Registry[Callable] = Registry("series data set", {
    # weekly CO2 at Mauna Loa, 1958-2001; its 59 missing weeks linearly interpolated
    "co2": _statsmodels("co2", "co2", lambda f: f.interpolate("linear")),
    # yearly sunspot numbers, 1700-2008
    "sunspots": _statsmodels("sunspots", "SUNACTIVITY", lambda f: f),
})


def _series(data, given) -> Dataset:
    """The forecasting windows (deepnet.data.series) of data.source or the data given."""
    name = data.source
    if given is not None:
        frame, where = memory.as_frame(given, f"data ({memory.kind_of(given)})"), "data"
    elif name in SERIES:
        frame, where = SERIES[name](), name
    elif name is not None and file_kind(name) == ".npz":
        arrays, _ = _read_npz(name, {c: c for c in (data.series.columns or ["x"])}, False)
        frame = pd.DataFrame({f"{c}{'' if a.ndim == 1 else f'_{j}'}": col
                              for c, a in arrays.items()
                              for j, col in enumerate(a.reshape(len(a), -1).T)})
        where = name
    elif name is not None and file_kind(name) in TABLE_SUFFIXES:
        frame, where = read_frame(name), name
    else:
        raise DataError(f"data.source: {name!r} is no series: data.series takes a series data "
                        f"set ({', '.join(SERIES)}), a table (.csv, .tsv, .parquet) or an .npz")
    cfg = data.series
    values, columns, target = series.series_values(frame, cfg.columns, cfg.target, where)
    return series.windows(values, columns, target, data.series, data.split, where)


def _table_or_text(data, path: Path, task: str | None) -> Dataset:
    return load_text(data, path, task) if data.text is not None else \
        load_table(data, path, task)


# Files by suffix: fn(spec.data, path, task) -> Dataset. A folder is an image folder.
FILE_KINDS: Registry[Callable] = Registry("file kind", {
    **dict.fromkeys(TABLE_SUFFIXES, _table_or_text),
    ".npz": lambda data, path, task: load_npz_dataset(path, task, getattr(data, "inputs", None),
                                                      getattr(data, "split", None)),
})


# The Datasets read last inside read_once(), by data section and task, the most recent
# last; None outside it. Only READ_KEEP are kept, so that a tune whose every trial has
# its own data section (a data.* parameter in the space) does not hold them all.
_READ: ContextVar[OrderedDict[tuple[str, str | None], Dataset] | None] = ContextVar(
    "deepnet_read_once", default=None)
READ_KEEP = 2


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Inside it, load_source reads each data section once: a later call with the same
    section and task returns the Dataset read the first time (a tune's trials, which only
    change what the data section does not name, read a large file once, not per trial);
    of the sections read, the READ_KEEP used last are kept.
    Datasets are never changed in place (prepare derives new ones), so sharing is safe.
    Nested, it shares the outer one's reads."""
    if _READ.get() is not None:
        yield
        return
    token = _READ.set(OrderedDict())
    try:
        yield
    finally:
        _READ.reset(token)


def load_source(data, task: str | None = None, given=None) -> Dataset:
    """The Dataset for `spec.data` (`task` from the spec, when it gives one), or of the
    data `given` in Python (deepnet.data.memory) instead of data.source; DataError for
    an unknown source or a bad file. Inside read_once() each data section is read once."""
    read, dump = _READ.get(), getattr(data, "model_dump_json", None)
    if read is None or given is not None or dump is None:
        return _load_source(data, task, given)
    key = (dump(), task)
    if key in read:
        read.move_to_end(key)
    else:
        read[key] = _load_source(data, task, None)
        while len(read) > READ_KEEP:
            read.popitem(last=False)
    return read[key]


def _load_source(data, task: str | None, given) -> Dataset:
    if getattr(data, "series", None) is not None:
        return _series(data, given)
    ds = memory.load_memory(data, given, task) if given is not None else _load(data, task)
    if getattr(data, "inputs", None) is not None and ds.encoding.kind != "table" and \
            getattr(ds.encoding, "inputs", None) is None:
        raise DataError(f"{ds.source or data.source}: model.inputs takes its inputs from the "
                        f"columns of a table or the arrays of an .npz (data.inputs), but these "
                        f"data are {ds.encoding.kind} data of shape {tuple(ds.input_shape)}; "
                        "pass a table (a .csv or .parquet file, a DataFrame) or an .npz of an "
                        "array per input, or use one input")
    if getattr(data, "layout", "auto") == "sequence":
        ds = as_sequences(ds, ds.source or data.source or "data")
    if getattr(data, "categorical", None) and ds.encoding.kind != "table":
        raise DataError(f"{ds.source or data.source}: data.categorical chooses how the columns "
                        f"of a table are encoded; these data are {ds.encoding.kind} data: remove "
                        "data.categorical")
    return ds


def as_sequences(ds: Dataset, where: str) -> Dataset:
    """data.layout: sequence. (N, T) inputs, an array's or a table's numeric feature
    columns, become (N, T, 1); (N, T, F) stay; anything else is a DataError."""
    shape = tuple(ds.input_shape)
    kind = ds.encoding.kind
    numeric = kind == "array" or (kind == "table" and all(
        c.type == "numeric" for c in ds.encoding.columns) and ds.encoding.inputs is None)
    if not numeric or len(shape) not in (1, 2):
        what = {"table": "a table with categorical columns or several inputs",
                "array": f"arrays of shape {shape} per sample"}.get(kind, f"{kind} data")
        raise DataError(f"{where}: data.layout: sequence reads samples of shape (time,) as "
                        f"(time, 1) and (time, features) as they are; these data are {what}: "
                        "remove data.layout", path="data.layout")
    if len(shape) == 2:
        return ds
    refit = None if ds.refit is None else (lambda rows: as_sequences(ds.refit(rows), where))
    return replace(ds, x=ds.x[:, :, None], refit=refit)


def _load(data, task: str | None) -> Dataset:
    name = data.source
    if name is None:
        raise DataError("data.source is not set: name a built-in data set ("
                        f"{', '.join(n for n in SOURCES if n != memory.SOURCE)}) or a file, or "
                        "pass the data in Python: deepnet.train(spec, data=df)")
    if name in SOURCES:
        return SOURCES[name](data, task)
    path = Path(name)
    suffix = file_kind(path)
    if path.is_dir():
        sound = data.audio is not None or holds_sound(path)
        return (load_audio if sound else load_images)(data, path, task)
    if suffix in FILE_KINDS:
        if not path.is_file():
            raise DataError(f"data.source: file {name!r} not found")
        return FILE_KINDS[suffix](data, path, task)
    if suffix or "/" in name or "\\" in name:
        raise DataError(
            f"data.source: {name!r} is neither a folder of images nor a file of a known kind "
            f"({', '.join(FILE_KINDS)}){' and does not exist' if not path.exists() else ''}")
    raise DataError(
        f"data.source: unknown source {name!r}{did_you_mean(name, list(SOURCES))}; expected "
        f"one of {', '.join(SOURCES)}, or a path to a .csv/.parquet/.npz file or an image folder"
    )


NEVER_UNPICKLED = ("deepnet never unpickles a file (unpickling can run any code). Save plain "
                   "arrays of numbers (or of label strings) instead, e.g. np.savez(path, "
                   "x=np.asarray(x, dtype=np.float32), y=np.asarray(y))")
NOT_AN_ARCHIVE = ("it is no .npz archive (a zip of .npy arrays), and numpy would read it as a "
                  f"pickle, but {NEVER_UNPICKLED}")


def load_npz(path: str | Path, need_y: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays `x` (and `y`) from an .npz file, never unpickled."""
    arrays, y = _read_npz(path, {"x": "x"}, need_y)
    return arrays["x"], y


def load_npz_inputs(path: str | Path, inputs: dict, need_y: bool = False
                    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The array of each input of a model of several inputs (`inputs`: input name -> its
    array's name, or a list of that one name, as data.inputs gives it) and `y`, from an
    .npz file; a DataError naming the input and the array the file lacks."""
    names = {}
    for name, arrays in inputs.items():
        arrays = [arrays] if isinstance(arrays, str) else list(arrays)
        if len(arrays) != 1:
            raise DataError(f"data.inputs.{name}: an input of an .npz file is one array; "
                            f"got {arrays}")
        names[name] = arrays[0]
    return _read_npz(path, names, need_y, lambda name, array: (
        f"input {name!r} of model.inputs takes array {array!r} (data.inputs.{name}), which "
        "the file does not have"))


def _read_npz(path: str | Path, names: dict[str, str], need_y: bool,
              lacking: Callable[[str, str], str] | None = None
              ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """{name: array} for each array named in `names` (name -> array in the file), and
    `y` (None when absent and not needed), never unpickled; `lacking(name, array)` says
    what is missing when the file has no such array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            found = ", ".join(f.files) or "none"
            for name, array in names.items():
                if array not in f:
                    what = lacking(name, array) if lacking else f"no array named {array!r}"
                    raise DataError(f"{str(path)!r}: {what} (found: {found}); save with "
                                    f"np.savez(path, {array}=...)")
            if need_y and "y" not in f:
                raise DataError(f"{str(path)!r}: no array named 'y' of labels (found: "
                                f"{found}); save with np.savez(path, x=..., y=...)")
            arrays = {name: _array(f, array, path) for name, array in names.items()}
            y = _array(f, "y", path) if "y" in f else None
    except FileNotFoundError:
        raise DataError(f"{str(path)!r} not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError,
            tokenize.TokenError) as e:  # a damaged archive, array or header
        why = NOT_AN_ARCHIVE if "pickle" in str(e) else str(e)  # numpy would advise pickling
        raise DataError(f"{str(path)!r} is not a readable .npz file: {why}") from None
    for name, x in arrays.items():
        what = "x" if names[name] == "x" else f"array {names[name]!r} (input {name!r})"
        if x.ndim < (2 if what != "x" else 1):
            raise DataError(f"{str(path)!r}: {what} must have one row per sample and "
                            f"features; got shape {x.shape}")
        if y is not None and len(y) != len(x):
            raise DataError(f"{str(path)!r}: {what} has {len(x)} rows but y has {len(y)}; "
                            f"they must have one label per row of {what}")
    return arrays, y


def _array(f, name: str, path: Path) -> np.ndarray:
    """One array of an open .npz; a DataError for one of Python objects, which only
    unpickling could read."""
    try:
        return f[name]
    except ValueError as e:
        if "pickle" not in str(e):
            raise
        raise DataError(f"{str(path)!r} is not a readable .npz file for deepnet: its array "
                        f"{name!r} holds Python objects, which only unpickling could read, and "
                        f"{NEVER_UNPICKLED}") from None


def load_npz_dataset(path: Path, task: str | None = None, inputs: dict | None = None,
                     split=None) -> Dataset:
    """Arrays x (N, ...) and y (N,) of an .npz file (arrays_dataset); with `inputs`
    (data.inputs), each input's array instead of x, packed (encoding.pack_arrays); with
    `split` (data.split) giving parts as .npz files, their rows appended and marked."""
    if split is not None and parts_given(split):
        if inputs is not None:
            raise DataError(f"{path}: data.split as files takes an .npz of x and y; this one "
                            "has an array per input (data.inputs)", path="data.split")
        x, y, parts = stack_arrays(split, *load_npz(path, need_y=True),
                                   lambda p: load_npz(p, need_y=True), str(path))
        return replace(memory.arrays_dataset(x, y, str(path), task), given_parts=parts)
    if inputs is None:
        return memory.arrays_dataset(*load_npz(path, need_y=True), str(path), task)
    arrays, y = load_npz_inputs(path, inputs, need_y=True)
    for name, a in arrays.items():
        check_numeric(a, str(path), f"array {inputs[name][0]!r} (input {name!r})")
    ds = memory.arrays_dataset(pack_arrays(arrays), y, str(path), task)
    return replace(ds, encoding=ArrayEncoding(inputs={
        name: ArrayInput(inputs[name][0], tuple(a.shape[1:])) for name, a in arrays.items()}))
