"""`deepnet export`: a run's whole inference path in one file, verified before it is
written.

The file takes raw inputs (as `run.predict` does after the table or text encoding: the
features of a table, token ids of a text, pixels of an image) and gives class
probabilities (column j is class j of the metadata's `classes`) or regression values,
with a dynamic batch axis. The saved normalisation and any input transformation (the
bit-depth reduction and smoothing of a defense) are inside the graph; what cannot be (a
table's column encoding, a text's tokenisation, image decoding) is stated exactly in the
metadata, kept in the file and written beside it as FILE.json.

    onnx         FILE.onnx   the ONNX graph (PyTorch's TorchScript-based exporter: it
                             takes every layer type, LSTMs included, in well under a second;
                             the torch.export-based one took 8 s for a small CNN); metadata
                             in the model's metadata_props["deepnet"]; runs in onnxruntime
    torchscript  FILE.pt     torch.jit.trace; metadata in the extra file deepnet.json;
                             runs with torch.jit.load, without deepnet (PyTorch 2.13
                             deprecates TorchScript for torch.export: `exported`)
    exported     FILE.pt2    torch.export (an ExportedProgram); metadata in deepnet.json;
                             runs with torch.export.load

Before the file is written, it is loaded back and run on up to VERIFY_ROWS examples of the
run's test split (or, for a run trained on data passed in Python, random inputs in the
training range); it is refused (nothing written) when its outputs differ from PyTorch's by
more than TOLERANCE, with the largest difference stated.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepnet.core.errors import DataError, DeepnetError
from deepnet.core.io import write_bytes_atomic, write_text_atomic
from deepnet.core.outputs import writable_file
from deepnet.core.progress import bar
from deepnet.core.registry import Registry
from deepnet.core.version import VERSION
from deepnet.nn.build import spec_path
from deepnet.runs.files import SPEC
from deepnet.runs.load import load
from deepnet.train.metrics import probabilities

TOLERANCE = 1e-5  # absolute, on probabilities (or values)
VERIFY_ROWS = 256
INPUT, OUTPUT = "inputs", "outputs"


class Inference(nn.Module):
    """Raw inputs -> probabilities (N, classes) or values (N, outputs): the run's network
    behind its saved preprocessing, with the output the task calls for."""

    def __init__(self, network: nn.Module, classification: bool):
        super().__init__()
        self.network = network
        self.classification = classification

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        if self.classification:
            return probabilities(out)
        return out.reshape(out.shape[0], -1)


@dataclass(frozen=True)
class Format:
    suffix: str
    write: Callable[[nn.Module, torch.Tensor, str, Path], None]  # (net, example, meta, path)
    run: Callable[[Path, np.ndarray], np.ndarray]  # the file on inputs -> outputs


# ----------------------------------------------------------------------------- formats
def _need(module: str, extra: str):
    """An optional dependency, or a DeepnetError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DeepnetError(f"this needs {module}, in deepnet's {extra!r} extra: "
                           f"pip install -c constraints.txt -e '.[{extra}]'") from None


def _onnx_write(net: nn.Module, example: torch.Tensor, meta: str, path: Path) -> None:
    onnx = _need("onnx", "export")

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
        torch.onnx.export(net, (example,), buf, dynamo=False, input_names=[INPUT],
                          output_names=[OUTPUT], opset_version=17,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    model = onnx.load_from_string(buf.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = "deepnet", meta
    path.write_bytes(model.SerializeToString())


def _onnx_run(path: Path, x: np.ndarray) -> np.ndarray:
    onnxruntime = _need("onnxruntime", "export")

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: x})[0]


def _torchscript_write(net: nn.Module, example: torch.Tensor, meta: str, path: Path) -> None:
    with warnings.catch_warnings():  # TorchScript is deprecated by PyTorch (`exported` is
        warnings.simplefilter("ignore")  # its successor) but still asked for
        traced = torch.jit.trace(net, (example,), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"deepnet.json": meta})


def _torchscript_run(path: Path, x: np.ndarray) -> np.ndarray:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path)).eval()(torch.as_tensor(x)).numpy()


def _exported_write(net: nn.Module, example: torch.Tensor, meta: str, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path), extra_files={"deepnet.json": meta})


def _exported_run(path: Path, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.export.load(str(path)).module()(torch.as_tensor(x)).numpy()


FORMATS: Registry[Format] = Registry("export format", {
    "onnx": Format(".onnx", _onnx_write, _onnx_run),
    "torchscript": Format(".pt", _torchscript_write, _torchscript_run),
    "exported": Format(".pt2", _exported_write, _exported_run),
})


# ----------------------------------------------------------------------------- the metadata
RECIPES = {
    "array": "the inputs as they are: float32 of the input shape",
    "table": "one float32 feature per numeric column and per category of a onehot column "
             "(1 for the row's category, else 0), the category's index in `categories` for "
             "an ordinal column (-1 for an unknown one), 1 + that index for an embedding "
             "column (0 for an unknown one), in the order of `columns`; a missing value "
             "takes the column's `fill`",
    "text": "the text lowercased and split into words (the regex [\\w']+), or, when "
            "`tokenizer` is bpe or unigram, into the pieces of the SentencePiece model in "
            "`model` (its serialised proto, base64); with `ngrams` n > 1 each token followed "
            "by the space-joined runs of 2..n tokens that end at it; each token its index "
            "in `vocab` (1 for one not in it), cut to the first `max_len` ids and "
            "left-padded with 0 to `max_len`; int64",
    "image": "the image decoded to `channels` (1 grey, 3 RGB) and resized to `size` (height, "
             "width), pixels scaled to [0, 1], as float32 (channels, height, width)",
    "audio": "the sound file decoded to mono float32 samples in [-1, 1], resampled to "
             "`sample_rate` (soxr's high quality), cut or padded with zeros at its end to "
             "`samples`: the model's first layer makes the spectrogram",
    "series": "the last `window` steps of the series' `columns` (window, columns), each "
              "column minus its last value and divided by its `scale`; the forecast of the "
              "next `horizon` steps is the output times the target's scale plus the "
              "target's last value",
}


def metadata(run, fmt: str) -> dict[str, Any]:
    """What the exported file says about itself: its input and output, the classes, the
    encoding of raw inputs with its recipe, and where it came from."""
    integer = run.encoding.kind == "text"
    files = run.files
    spec_file = files.file(SPEC)
    return {
        "deepnet": VERSION, "format": fmt, "task": run.task,
        "input": {"name": INPUT, "dtype": "int64" if integer else "float32",
                  "shape": ["batch", *run.input_shape]},
        "output": {"name": OUTPUT, "dtype": "float32",
                   "shape": ["batch", len(run.classes) if run.task == "classification" else
                             "outputs"],
                   "meaning": "class probabilities, column j for classes[j]"
                   if run.task == "classification" else "regression values"},
        "classes": list(run.classes),
        "labels": None if run.meta.labels is None else list(run.meta.labels),
        # a binary classifier's decision: class 1 when its probability is at least this
        "threshold": run.meta.threshold,
        "encoding": run.encoding.to_json(),
        "recipe": RECIPES[run.encoding.kind],
        "preprocessing": "inside the graph: " + run.meta.preprocess.mode + " normalisation"
                         + (" after the input transformation"
                            if run.meta.preprocess.input_transform else ""),
        "test": dict(run.results.test),
        "spec_sha256": _sha256(spec_file) if spec_file.is_file() else None,
    }


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- export
@dataclass
class Exported:
    path: Path
    metadata_path: Path
    format: str
    rows: int  # verified on
    max_difference: float
    verified_on: str  # "test split" or "random inputs in the training range"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "metadata": str(self.metadata_path),
                "format": self.format, "verified_rows": self.rows,
                "verified_on": self.verified_on, "max_difference": self.max_difference}


def _examples(run) -> tuple[np.ndarray, str]:
    """Up to VERIFY_ROWS raw inputs to verify on: the test split, else random ones."""
    from deepnet.robust.evaluate import test_examples

    try:
        x, _ = test_examples(run, VERIFY_ROWS)
        return x.numpy(), "test split"
    except DeepnetError:
        pass
    g = np.random.default_rng(0)
    shape = (min(VERIFY_ROWS, 64), *run.input_shape)
    if run.encoding.kind == "text":
        return g.integers(0, len(run.encoding.vocab) + 2, shape).astype(np.int64), \
            "random token ids"
    lo, hi = run.meta.x_range or (0.0, 1.0)
    return g.uniform(lo, hi, shape).astype(np.float32), "random inputs in the training range"


def _failing_layer(model: nn.Module, x: torch.Tensor, write, meta: str, path: Path
                   ) -> str | None:
    """The spec path of the first top-level layer that the format cannot hold, or None."""
    inputs: list[torch.Tensor] = []
    layers = list(model.named_children())
    hooks = [m.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for _, m in layers]
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # noqa: BLE001 - only a hint is looked for
        return None
    finally:
        for h in hooks:
            h.remove()
    for (name, module), inp in zip(layers, inputs, strict=False):
        try:
            write(module.eval(), inp, meta, path)
        except Exception:  # noqa: BLE001
            return spec_path(model, name) or name
    return None


def _write(run, net, fmt, format: str, example: torch.Tensor, text: str, staged: Path) -> None:
    """Write the export to `staged`; a DeepnetError naming the layer it cannot hold."""
    try:
        fmt.write(net, example, text, staged)
    except Exception as e:  # noqa: BLE001 - the exporter's failure, named by layer
        inner = net.network
        model_input = example if inner is run.model else inner[0](example)
        layer = _failing_layer(run.model, model_input, fmt.write, text,
                               staged.with_name("layer"))
        raise DeepnetError(f"cannot export this run to {format}"
                           + (f": its layer {layer} cannot be held by it" if layer else "")
                           + f" ({type(e).__name__}: {str(e).strip()[:300]})") from None


def export(run, format: str = "onnx", out: str | Path | None = None) -> Exported:
    """Write the run's inference path (a Run or its directory) as `format` (onnx,
    torchscript or exported) to `out` (default: RUN/model.<suffix>), with FILE.json
    beside it; verified first (see the module's doc). A DeepnetError for an unknown
    format, a layer the format cannot hold (named), or outputs beyond TOLERANCE."""
    try:
        fmt = FORMATS.get(format)
    except ValueError as e:
        raise DeepnetError(f"--format: {e}") from None
    if format == "onnx":
        for module in ("onnx", "onnxruntime"):  # before any work
            _need(module, "export")
    run = load(run)
    path = Path(out) if out is not None else run.path / f"model{fmt.suffix}"
    writable_file(path, "--out")
    meta = metadata(run, format)
    text = json.dumps(meta)
    net = Inference(run.network(), run.task == "classification").eval()
    x, where = _examples(run)
    if len(x) < 2:
        x = np.concatenate([x, x])[:2] if len(x) else x
    with torch.no_grad():
        expected = net(torch.as_tensor(x)).numpy()
    with tempfile.TemporaryDirectory(prefix="deepnet-export-") as tmp, \
            bar(f"export {format}: write", 2, "stages") as b:
        staged = Path(tmp) / path.name
        _write(run, net, fmt, format, torch.as_tensor(x[:2]), text, staged)
        b.advance()
        b.describe(f"export {format}: verify on {len(x)} inputs")
        got = fmt.run(staged, x)
        b.advance()
        worst = float(np.max(np.abs(got - expected))) if got.size else 0.0
        if got.shape != expected.shape or not worst <= TOLERANCE:
            raise DeepnetError(
                f"the {format} export does not reproduce the model: on {len(x)} inputs "
                f"({where}) its outputs differ by up to {worst:.3g} (shape {got.shape}, "
                f"expected {expected.shape}); the limit is {TOLERANCE:g}; nothing was written")
        write_bytes_atomic(path, staged.read_bytes())
    sidecar = path.with_name(path.name + ".json")
    write_text_atomic(sidecar, json.dumps(meta, indent=2) + "\n")
    return Exported(path, sidecar, format, len(x), worst, where)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata kept inside an exported file (onnx, .pt or .pt2), without deepnet's
    model code: for checking a file's provenance."""
    path = Path(path)
    if path.suffix == ".onnx":
        onnx = _need("onnx", "export")

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                 .metadata_props}
        return json.loads(props["deepnet"])
    with zipfile.ZipFile(path) as z:
        name = next((n for n in z.namelist() if n.endswith("deepnet.json")), None)
        if name is None:
            raise DataError(f"{path}: no deepnet.json inside; not a deepnet export")
        return json.loads(z.read(name))

