"""The command line's one set of rules: remedies that paste into a shell, --json and
--quiet on every command, examples in every --help, shell completion, quiet broken pipes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import deepnet
from deepnet.cli import COMMANDS, main, parser
from deepnet.core.shell import format_override
from deepnet.diagnose import facts
from deepnet.diagnose.fit import _regularise
from deepnet.spec import apply_changes
from deepnet.spec.paths import get_path
from factory import cnn_spec, write_spec

DEEPNET = f"{sys.executable} -m deepnet"


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """A small digits CNN, no augmentation or early stopping: its overfitting remedy
    holds a number, a mapping and a list of mappings."""
    folder = tmp_path_factory.mktemp("cli")
    spec = write_spec(folder / "cnn.yaml", cnn_spec(epochs=2, filters=4, pool=2,
                                                    **{"train.early_stopping": None}))
    run = deepnet.train(deepnet.Spec.from_yaml(spec), out=folder / "run", quiet=True)
    return spec, run


@pytest.mark.slow  # run by .ci/run after the default suite
def test_every_remedy_pastes_into_bash_and_train_applies_it(cnn, tmp_path, capsys):
    spec, run = cnn
    assert main(["diagnose", str(run.path)]) == 0
    printed = [line.strip() for line in capsys.readouterr().out.splitlines()
               if line.strip().startswith("--set ")]
    regularise = _regularise(facts(run))  # what an overfitting finding prescribes
    assert {type(v) for v in regularise.values()} >= {float, dict, list}
    pasted = printed + [format_override(k, v) for k, v in regularise.items()]
    expected = {}  # what diagnose --json says the printed lines mean
    for f in json.loads(_json(["diagnose", str(run.path), "--json"], capsys)):
        expected |= f["remedy"]["changes"]
    expected |= regularise
    out = tmp_path / "applied"
    command = (f"{DEEPNET} train {spec} {' '.join(pasted)} "
               f"--out {out} --quiet")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    saved = yaml.safe_load((out / "spec.yaml").read_text())
    original = deepnet.Spec.from_yaml(spec).to_dict()
    for path, value in expected.items():
        want = deepnet.Spec.from_dict(apply_changes(original, {path: value}, deepnet.Spec))
        assert get_path(saved, path) == get_path(want.to_dict(), path), (path, value)


def _json(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_json_puts_one_object_on_stdout_and_nothing_else(cnn, tmp_path, capsys):
    spec, run = cnn
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((3, 1, 8, 8), dtype=np.float32))
    for argv in (["summary", str(spec)], ["evaluate", str(run.path)],
                 ["predict", str(run.path), str(x)], ["report", str(run.path)],
                 ["diagnose", str(run.path)]):
        out = _json([*argv, "--json"], capsys)
        json.loads(out)  # the whole of stdout is one JSON document
    predictions = json.loads(_json(["predict", str(run.path), str(x), "--json"], capsys))
    assert len(predictions["predictions"]) == 3
    assert set(predictions["predictions"][0]) >= {"class", "p_0"}


def test_every_command_takes_quiet_and_json_and_shows_examples():
    p = parser()
    sub = next(a for a in p._actions if hasattr(a, "choices") and a.choices)
    for name, cmd in sub.choices.items():
        options = {o for a in cmd._actions for o in a.option_strings}
        assert "--quiet" in options, name
        assert ("--json" in options) == COMMANDS[name].json, name
        assert "examples:\n  deepnet " + name in cmd.format_help(), name


def test_bash_completion_completes_commands_and_options():
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = subprocess.run([sys.executable, "-m", "deepnet", "completion", "bash"],
                            capture_output=True, text=True, check=True).stdout

    def complete(*words: str) -> list[str]:
        array = " ".join(f"'{w}'" for w in words)
        probe = (f"{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _deepnet; "
                 'printf "%s\\n" "${COMPREPLY[@]}"')
        return subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                              check=True).stdout.split()

    assert complete("deepnet", "tr") == ["train"]
    assert complete("deepnet", "attack", "--me") == ["--method"]
    assert complete("deepnet", "tune", "--wor") == ["--workers"]  # --worker is hidden
    zsh = subprocess.run([sys.executable, "-m", "deepnet", "completion", "zsh"],
                         capture_output=True, text=True, check=True).stdout
    assert zsh.startswith("#compdef deepnet") and "bashcompinit" in zsh and script in zsh


@pytest.mark.parametrize("json_flag", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_a_reader_that_leaves_early_is_no_error(json_flag):
    """`deepnet summary SPEC | head -1`: the pipe breaks; no traceback, no message."""
    p = subprocess.Popen([sys.executable, "-m", "deepnet", "summary", "examples/digits.yaml",
                          *(["--json"] if json_flag else [])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    code = p.wait(timeout=120)
    assert err == ""
    # print's BrokenPipeError: 141, as a process SIGPIPE ends; rich's tables exit 1
    assert code == (141 if json_flag else 1)
