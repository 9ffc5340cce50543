"""Progress as a user sees it: `deepnet` driven in a pseudo-terminal of a given size, its
epoch lines read back from what the terminal received."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from deepnet.core.progress import KEEP, duration, fit
from factory import mlp_spec, write_spec

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
EPOCHS = 12
# every token an epoch line may hold: nothing cut mid-word
TOKEN = re.compile(r"^(epoch \d+/\d+|(train|val)_(loss|accuracy) \d\.\d{4}|lr \d\.\d\de[-+]\d\d"
                   r"|\d+\.\d\ds|ETA (\d+s|\d+m\d\ds|\d+h\d\dm))$")


def in_terminal(argv: list[str], columns: int, rows: int = 8,
                stdout: int | None = None) -> list[str]:
    """What a terminal of `columns` x `rows` shows of the command (its stderr, and its
    stdout unless `stdout` is given), control sequences removed, split into its lines."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    p = subprocess.Popen(argv, stdin=slave, stdout=slave if stdout is None else stdout,
                         stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert p.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    text = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


@pytest.mark.parametrize("columns", [pytest.param(60, marks=pytest.mark.slow), 80,
                                     pytest.param(120, marks=pytest.mark.slow)])
def test_epoch_lines_fit_the_terminal(tmp_path, columns):
    spec = write_spec(tmp_path / "mlp.yaml", mlp_spec(epochs=EPOCHS, **{
        "train.early_stopping": None, "train.metrics": ["accuracy"]}))
    lines = in_terminal([sys.executable, "-m", "deepnet", "train", str(spec),
                         "--out", str(tmp_path / "run")], columns)
    epoch_lines = {}
    for line in lines:
        m = re.match(rf"epoch (\d+)/{EPOCHS}  .*val_", line)
        if m:
            epoch_lines[int(m.group(1))] = line
    # every epoch has its line, though the terminal has fewer rows than epochs
    assert sorted(epoch_lines) == list(range(1, EPOCHS + 1)), lines
    for line in epoch_lines.values():
        assert len(line) <= columns, line
        assert re.search(r"  val_accuracy \d\.\d{4}  ", line), line
        assert re.search(r"  ETA \S+$", line), line
        assert all(TOKEN.match(t) for t in line.split("  ")), line
    wide = epoch_lines[1].split("  ")
    if columns >= 120:  # room for everything
        assert len(wide) == 8, wide
    else:  # narrow: the lowest-ranked columns went first
        assert not any(t.endswith("s") and t[0].isdigit() for t in wide), wide
    # the end: the run folder and its report
    assert any(line.startswith("run: ") for line in lines)
    assert any(line.startswith("report: ") and line.endswith("report.html") for line in lines)


def test_fit_drops_lowest_ranks_first_and_keeps_the_rest_whole():
    fields = [("epoch 1/3", KEEP), ("a 1.0000", 2), ("b 2.0000", 1), ("ETA 3s", KEEP)]
    assert fit(fields, None) == "epoch 1/3  a 1.0000  b 2.0000  ETA 3s"
    assert fit(fields, 34) == "epoch 1/3  a 1.0000  ETA 3s"
    assert fit(fields, 10) == "epoch 1/3  ETA 3s"  # what is kept is kept, never cut
    assert [duration(s) for s in (0.4, 59, 61, 3725)] == ["0s", "59s", "1m01s", "1h02m"]


@pytest.mark.slow  # run by .ci/run after the default suite
def test_every_long_command_shows_progress_and_keeps_stdout_for_its_json(tmp_path):
    """Each command that can take over 2 s, --json, stderr on a terminal: stdout holds
    only its JSON, the terminal shows a bar (with the time so far) or progress lines."""
    import deepnet as api

    deepnet = [sys.executable, "-m", "deepnet"]
    runs = []
    for seed in (0, 1):  # trained here: `train` itself is the test above
        spec = api.Spec.from_yaml("examples/digits.yaml", ["train.epochs=2", f"seed={seed}"])
        runs.append(str(api.train(spec, out=tmp_path / f"run{seed}", quiet=True,
                                  report=False).path))
    commands = {
        "attack": ["attack", runs[0], "--method", "pgd", "--limit", "100"],
        "audit": ["audit", "examples/digits.yaml"],
        "export": ["export", runs[0], "--out", str(tmp_path / "m.onnx")],
        "ensemble": ["ensemble", *runs, "--out", str(tmp_path / "ens")],
        "tune": ["tune", "examples/digits.yaml", "--set", "train.epochs=1", "--trials", "2",
                 "--set", "tune.space={train.optimizer.lr: {loguniform: [0.001, 0.01]}}",
                 "--out", str(tmp_path / "tune")],
    }
    for name, argv in commands.items():
        out = tmp_path / f"{name}.json"
        with open(out, "w") as f:
            shown = "\n".join(in_terminal([*deepnet, *argv, "--json"], 100, stdout=f.fileno()))
        json.loads(out.read_text())  # all of stdout is the one JSON object
        assert "━" in shown or name in shown, (name, shown[-2000:])
        assert re.search(r"\d+:\d\d:\d\d|ETA \d", shown), (name, shown[-2000:])
