"""The shape of every refusal in the bad-input matrix of issue 13 (tests/refusals), and
small input files the cases share.

A refusal (`refused`) is exit code 2, one `deepnet <command>: error:` line, no traceback,
nothing on stdout, and the place named on stderr: a spec path (`train.optimizer.lr`), a
file, a row, a column or an argument (and never numpy's advice to unpickle a file). An API refusal (`rejects`) raises the documented
exception type (deepnet.DeepnetError and its subclasses) with the place in its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from deepnet.cli import main

ERROR_LINE = re.compile(r"^deepnet(?: [\w-]+)?: error: ", re.MULTILINE)


def cli(capsys, argv) -> tuple[int, str, str]:
    """`deepnet argv` in-process: (exit code, stdout, stderr). argparse's own refusals
    (SystemExit) count as their exit code."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def check_refusal(code: int, out: str, err: str, places) -> str:
    """The shape of every refusal, whichever way the command ran."""
    assert code == 2, f"exit code {code}, expected 2; stderr:\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert out == "", f"a refusal prints nothing on stdout; got:\n{out[-2000:]}"
    assert len(ERROR_LINE.findall(err)) == 1, f"expected one 'error:' line:\n{err[-3000:]}"
    for place in places:
        assert str(place) in err, f"the message does not name {str(place)!r}:\n{err[-3000:]}"
    assert "allow_pickle" not in err, f"deepnet never unpickles: no such advice\n{err}"
    return err


def refused(capsys, argv, *places) -> str:
    """`deepnet argv` is refused: exit 2, no traceback, nothing on stdout, one 'error:'
    line naming every one of `places`. Returns stderr."""
    return check_refusal(*cli(capsys, argv), places)


def rejects(call: Callable, kind: type[Exception], *places) -> Exception:
    """`call()` raises `kind` (a deepnet.DeepnetError) whose message names every place."""
    with pytest.raises(kind) as info:
        call()
    text = str(info.value)
    for place in places:
        assert str(place) in text, f"the message does not name {str(place)!r}:\n{text}"
    return info.value


IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                "petal width (cm)"]


def iris_csv(path: Path, rows: int = 4, **columns) -> Path:
    """A CSV of iris inputs (the four feature columns; `columns` replace or add some)."""
    rng = np.random.default_rng(0)
    cols = {c: [f"{v:.1f}" for v in rng.uniform(1, 7, rows)] for c in IRIS_COLUMNS}
    cols.update(columns)
    header = ",".join(f'"{c}"' if "," in c else c for c in cols)
    lines = [header] + [",".join(str(v[i]) for v in cols.values()) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path
