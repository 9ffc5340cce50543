"""deepnet export: every layer type in every format, the examples exported and run in a
fresh process without deepnet (onnxruntime, torch.jit) against deepnet's predictions, and
the refusals (an unknown format, a file that does not reproduce the model, a layer a
format cannot hold)."""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import deepnet
from deepnet.app import export as export_module
from deepnet.app.export import FORMATS, Inference, export, read_metadata
from deepnet.cli import main
from deepnet.nn.build import build_model
from deepnet.nn.layers import LAYERS, spec_layer_types
from deepnet.nn.shaping import adapt, needs_adapt
from deepnet.spec import Spec
from test_resources import ARCHITECTURES, MIXED, _types  # tests/ is on the path

CASES = {**ARCHITECTURES, **MIXED}


def _inputs(layers, shape, rows=5):
    g = np.random.default_rng(0)
    (first, args), = layers[0].items()
    if first in ("embedding", "embeddingbag"):
        return g.integers(0, args["vocab"], (rows, *shape)).astype(np.int64)
    return g.standard_normal((rows, *shape)).astype(np.float32)


def test_the_cases_cover_every_layer_type():
    assert {n for layers, _ in CASES.values() for n in _types(layers)} == set(spec_layer_types())  # the front: test_multi_input


# torch.export takes seconds a case: its cases run with the slow tests
@pytest.mark.parametrize("fmt", [pytest.param(f, marks=pytest.mark.slow) if f == "exported"
                                 else f for f in FORMATS])
@pytest.mark.parametrize("case", list(CASES))
def test_every_layer_type_exports_and_reproduces_the_model(case, fmt, tmp_path):
    layers, shape = CASES[case]
    spec = Spec.from_dict({"data": "synthetic", "model": {"layers": layers}})
    model, _ = build_model(spec.model.layers, shape, seed=0)
    x = _inputs(layers, shape)
    if needs_adapt(model):  # an embeddingbag exports its fitted idf
        adapt(model, torch.as_tensor(_inputs(layers, shape, rows=50)[5:]))
    net = Inference(model.eval(), classification=True).eval()
    f = FORMATS[fmt]
    path = tmp_path / f"m{f.suffix}"
    f.write(net, torch.as_tensor(x[:2]), "{}", path)
    with torch.no_grad():
        expected = net(torch.as_tensor(x)).numpy()
    got = f.run(path, x)  # 5 rows: the batch axis is dynamic
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5


# ----------------------------------------------------------------------------- the examples
TRANSFORMER = {"name": "seq-transformer", "data": {"source": "synthetic", "synthetic": {
    "kind": "sequence", "samples": 300, "features": 4, "classes": 3, "steps": 12}},
    "model": {"layers": [{"dense": 16}, {"transformer": {"heads": 2, "ff_units": 32}},
                         {"globalavgpool": {}}, {"dense": 3}]}, "train": {"epochs": 2}}

FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import onnxruntime, torch
    checks = json.loads(sys.argv[1])
    assert not any(m.startswith("deepnet") for m in sys.modules)
    out = {}
    for c in checks:
        x = np.load(c["inputs"])
        if c["file"].endswith(".onnx"):
            s = onnxruntime.InferenceSession(c["file"], providers=["CPUExecutionProvider"])
            p = s.run(None, {"inputs": x})[0]
        else:
            with torch.no_grad():
                p = torch.jit.load(c["file"])(torch.as_tensor(x)).numpy()
        out[c["file"]] = float(np.abs(p - np.load(c["expected"])).max())
    assert not any(m.startswith("deepnet") for m in sys.modules)
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    specs = {name: Spec.from_yaml(f"examples/{name}.yaml", ["train.epochs=2"])
             for name in ("digits", "breast_cancer", "text_sentiment", "images")}
    specs["transformer"] = Spec.from_dict(TRANSFORMER)
    return {name: deepnet.train(spec, out=tmp / name, quiet=True, report=False)
            for name, spec in specs.items()}


def test_examples_export_and_run_without_deepnet(example_runs, tmp_path):
    from deepnet.robust.evaluate import test_examples

    checks = []
    for name, run in example_runs.items():
        x, _ = test_examples(run)
        x = x.numpy()
        np.save(tmp_path / f"{name}-x.npy", x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # test rows outside the training range
            np.save(tmp_path / f"{name}-p.npy", run.predict_proba(x))  # as `deepnet predict`
        for fmt in ("onnx", "torchscript"):
            done = export(run, fmt, tmp_path / f"{name}{FORMATS[fmt].suffix}")
            assert done.verified_on == "test split" and done.max_difference <= 1e-5
            meta = read_metadata(done.path)
            assert meta == json.loads(done.metadata_path.read_text())
            assert meta["classes"] == run.classes and meta["input"]["shape"][1:] == list(
                run.input_shape)
            checks.append({"file": str(done.path), "inputs": str(tmp_path / f"{name}-x.npy"),
                           "expected": str(tmp_path / f"{name}-p.npy")})
    proc = subprocess.run([sys.executable, "-c", FRESH, json.dumps(checks)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    worst = json.loads(proc.stdout)
    assert len(worst) == 10 and max(worst.values()) <= 1e-5, worst
    meta = read_metadata(tmp_path / "text_sentiment.onnx")
    assert meta["input"]["dtype"] == "int64" and meta["encoding"]["kind"] == "text"
    assert "vocab" in meta["encoding"] and "left-padded" in meta["recipe"]


def test_an_ensemble_exports_as_one_graph(example_runs, tmp_path):
    run = example_runs["digits"]
    second = deepnet.train(Spec.from_yaml("examples/digits.yaml", ["train.epochs=1",
                                                                    "seed=1"]),
                           out=tmp_path / "second", quiet=True, report=False)
    assert main(["ensemble", str(run.path), str(second.path), "--out",
                 str(tmp_path / "ens")]) == 0
    done = export(tmp_path / "ens", "onnx")
    assert done.path == tmp_path / "ens" / "model.onnx" and done.max_difference <= 1e-5


def test_the_cli_and_its_refusals(example_runs, tmp_path, capsys, monkeypatch):
    run = example_runs["breast_cancer"]
    assert main(["export", str(run.path), "--format", "exported", "--out",
                 str(tmp_path / "m.pt2"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["format"] == "exported" and printed["max_difference"] <= 1e-5
    assert main(["export", str(run.path), "--format", "savedmodel"]) == 2
    assert "unknown export format 'savedmodel'" in capsys.readouterr().err

    onnx = FORMATS["onnx"]
    noisy = export_module.Format(onnx.suffix, onnx.write, lambda p, x: onnx.run(p, x) + 1e-3)
    monkeypatch.setitem(FORMATS._items, "onnx", noisy)
    out = tmp_path / "noisy.onnx"
    assert main(["export", str(run.path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "differ by up to 0.001" in err and "nothing was written" in err
    assert not out.exists() and not (tmp_path / "noisy.onnx.json").exists()


class Spectrum(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).abs()


def test_a_layer_a_format_cannot_hold_is_named(tmp_path):
    from deepnet.extend import register_layer, unregister

    register_layer("spectrum_test", lambda a, s: Spectrum())
    try:
        run = deepnet.train({"data": "breast_cancer", "model": {"layers": [
            {"dense": 8}, {"spectrum_test": None}, {"dense": 2}]}, "train": {"epochs": 1}},
            out=tmp_path / "r", quiet=True, report=False)
        with pytest.raises(deepnet.DeepnetError, match=r"its layer model.layers\[1\] cannot "
                                                       r"be held by it"):
            export(run, "onnx")
        assert export(run, "torchscript").max_difference <= 1e-5
    finally:
        unregister("layer", "spectrum_test")
    assert "spectrum_test" not in LAYERS
