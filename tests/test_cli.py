import json
import subprocess
import sys

from deepnet.cli import main
from factory import spec_dict, write_spec

BAD_SPEC = {
    "name": "bad",
    "data": {"source": "digits"},
    "model": {"layers": [
        {"flatten": {}},
        {"dense": {"units": -4}},
        {"transformr": {"heads": 2}},
    ]},
    "train": {"epocs": 3},
}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "deepnet", *args], capture_output=True,
                          text=True, timeout=120)


def test_bad_spec_exit_code_2_one_message_no_traceback(tmp_path):
    path = write_spec(tmp_path / "bad.yaml", BAD_SPEC)
    r = run_cli("summary", str(path))
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    err = r.stderr
    assert "model.layers[2]: unknown layer type 'transformr' (did you mean 'transformer'?)" in err
    assert "train.epocs: unknown key 'epocs' (did you mean 'epochs'?)" in err
    assert "model.layers[1].dense.units" in err
    for layer in ("dense", "conv2d", "lstm", "gru", "attention", "repeat", "residual"):
        assert layer in err
    assert err.count("error:") == 1


def test_summary_json_keys(capsys):
    assert main(["summary", "examples/digits.yaml", "--json", "--batch-size", "32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"layers", "input_shape", "batch_size", "total_params",
                        "trainable_params", "flops", "flops_backward", "memory",
                        "inference_memory", "normalisation"}
    assert out["normalisation"].startswith("standard, per channel (1 standard scaling, over")
    assert set(out["memory"]) == {"parameters", "gradients", "optimizer", "activations", "total"}
    assert out["total_params"] == sum(r["params"] for r in out["layers"])
    # what the text view shows per layer: forward FLOPs are 2 x MACs of a 3x3 conv, 32 maps
    assert out["layers"][0] == {"path": "model.layers[0]", "type": "conv2d",
                                "output_shape": [32, 8, 8], "params": 32 * 9 + 32,
                                "flops": 2 * 9 * 32 * 64, "flops_backward": 2 * 9 * 32 * 64}
    assert out["flops"] == sum(r["flops"] for r in out["layers"])
    assert out["flops_backward"] == sum(r["flops_backward"] for r in out["layers"])
    assert 0 < out["inference_memory"] < out["memory"]["total"]
    assert out["batch_size"] == 32 and out["input_shape"] == [1, 8, 8]
    assert out["layers"][-1]["output_shape"] == [10]
    assert out["memory"]["parameters"] == 4 * out["total_params"]
    assert out["memory"]["optimizer"] == 2 * 4 * out["trainable_params"]  # adam


def test_summary_table_and_set(capsys):
    assert main(["summary", "examples/digits.yaml", "--set", "model.layers[5].dense.units=64"]) == 0
    out = capsys.readouterr().out
    assert "dense" in out and "(64,)" in out and "parameters:" in out


def test_shape_mismatch_exit_2(tmp_path, capsys):
    path = write_spec(tmp_path / "s.yaml", spec_dict("digits", [{"dense": 10}]))
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert "model.layers[0]: dense cannot take input of shape (1, 8, 8)" in err


def test_missing_file_and_bad_arguments(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["summary", "examples/digits.yaml", "--batch-size", "0"]) == 2
    r = run_cli("summary")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    out = tmp_path / "run"
    assert main(["train", "examples/digits.yaml", "--rounds", "2", "--out", str(out)]) == 2
    assert "--rounds and --lr-find go with --auto" in capsys.readouterr().err and not out.exists()


def test_unknown_data_source(tmp_path, capsys):
    path = write_spec(tmp_path / "s.yaml", spec_dict("digitz", [{"flatten": {}}]))
    assert main(["summary", str(path)]) == 2
    assert "did you mean 'digits'" in capsys.readouterr().err
