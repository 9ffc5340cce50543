"""deepnet.core.io: atomic writes. A crash at any moment leaves the old file or none,
never part of one; results are ordinary 0644 files; DEEPNET_KILL_AT kills mid-write;
JSON is strict (no bare NaN or Infinity)."""

import json
import math
import os
import signal
import stat
import subprocess
import sys

import pytest

from deepnet.core import io

DATA = bytes(range(256)) * 40  # 10 kB, every byte value


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_creates_folders_and_replaces_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "f.bin"
    io.write_bytes_atomic(path, DATA)
    assert path.read_bytes() == DATA
    io.write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert files(path.parent) == ["f.bin"]  # no temp file left


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_results_are_ordinary_0644_files_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        io.write_bytes_atomic(tmp_path / "f", DATA)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_text_and_json(tmp_path):
    io.write_text_atomic(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text() == "héllo\n"
    obj = {"a": [1, 2.5, None], "b": {"c": "d"}}
    io.write_json_atomic(tmp_path / "o.json", obj)
    text = (tmp_path / "o.json").read_text()
    assert text == json.dumps(obj, indent=2) + "\n"
    assert json.loads(text) == obj


def test_durable_writes_fsync_and_others_do_not(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    io.write_bytes_atomic(tmp_path / "d", DATA)
    assert len(synced) == 1
    io.write_bytes_atomic(tmp_path / "n", DATA, durable=False)
    io.write_text_atomic(tmp_path / "t", "x", durable=False)
    assert len(synced) == 1
    assert (tmp_path / "n").read_bytes() == DATA


@pytest.mark.parametrize("old", [b"old contents", None])
def test_an_error_mid_write_leaves_the_old_file_or_none(tmp_path, monkeypatch, old):
    path = tmp_path / "f"
    if old is not None:
        path.write_bytes(old)

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        io.write_bytes_atomic(path, DATA)
    assert files(tmp_path) == ([] if old is None else ["f"])  # the temp file is removed
    if old is not None:
        assert path.read_bytes() == old


def test_an_interrupt_mid_write_removes_the_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def interrupt(label, f):
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "_kill_point", interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.write_bytes_atomic(path, DATA)
    assert files(tmp_path) == ["f"] and path.read_bytes() == b"old"


# ----------------------------------------------------------------------------- DEEPNET_KILL_AT
WRITER = """
import sys
from deepnet.core.io import write_bytes_atomic
path, label, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    write_bytes_atomic(path, bytes([i]) * 1000, label=label)
"""


def write_in_a_process(path, label: str, writes: int, kill_at: str | None):
    env = {k: v for k, v in os.environ.items() if k != "DEEPNET_KILL_AT"}
    if kill_at is not None:
        env["DEEPNET_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", WRITER, str(path), label, str(writes)],
                          env=env, capture_output=True, timeout=60).returncode


def test_kill_at_the_nth_labelled_write_leaves_the_previous_file_and_half_a_temp(tmp_path):
    path = tmp_path / "f"
    assert write_in_a_process(path, "ckpt", 5, "ckpt:3") == -signal.SIGKILL
    assert path.read_bytes() == bytes([1]) * 1000  # the second write, whole
    temps = [p for p in tmp_path.iterdir() if p.name != "f"]
    assert len(temps) == 1 and temps[0].name.startswith(".f.") and temps[0].suffix == ".tmp"
    assert temps[0].read_bytes() == bytes([2]) * 500  # the third, killed halfway


def test_kill_at_the_first_write_leaves_no_file(tmp_path):
    path = tmp_path / "f"
    assert write_in_a_process(path, "ckpt", 2, "ckpt") == -signal.SIGKILL  # N defaults to 1
    assert not path.exists()


@pytest.mark.parametrize("kill_at", [None, "other:1", "ckpt:9"])
def test_no_kill_for_another_label_or_a_later_count(tmp_path, kill_at):
    path = tmp_path / "f"
    assert write_in_a_process(path, "ckpt", 3, kill_at) == 0
    assert path.read_bytes() == bytes([2]) * 1000 and files(tmp_path) == ["f"]


def test_unlabelled_writes_are_never_killed(tmp_path):
    assert write_in_a_process(tmp_path / "f", "", 2, ":1") == 0
    assert (tmp_path / "f").read_bytes() == bytes([1]) * 1000


def test_remove_temporaries_deletes_only_the_writers_temp_files(tmp_path):
    from deepnet.core.io import remove_temporaries

    (tmp_path / ".metrics.jsonl.abc123.tmp").write_text("half")
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "notes.tmp").write_text("a user's file, not hidden")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.tmp").write_text("below the folder: left alone")
    removed = remove_temporaries(tmp_path)
    assert [p.name for p in removed] == [".metrics.jsonl.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "notes.tmp", "sub"]
    assert (tmp_path / "sub" / ".x.tmp").exists()


# ----------------------------------------------------------------------------- strict JSON
def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as every reader but Python's does."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_text_writes_non_finite_numbers_as_null_and_says_where():
    obj = {"test": {"loss": float("nan"), "a/b~c": float("inf"), "accuracy": 0.5},
           "curve": [(0.1, float("-inf")), (0.2, 0.3)], "name": "x"}
    data = _strict(io.json_text(obj))
    assert data == {"test": {"loss": None, "a/b~c": None, "accuracy": 0.5},
                    "curve": [[0.1, None], [0.2, 0.3]], "name": "x",
                    "non_finite": {"/test/loss": "NaN", "/test/a~1b~0c": "Infinity",
                                   "/curve/0/1": "-Infinity"}}
    assert obj["test"]["loss"] != obj["test"]["loss"]  # the caller's object is unchanged


def test_json_text_of_finite_data_is_plain_json():
    obj = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    assert io.json_text(obj) == json.dumps(obj, indent=2)
    assert io.json_text(obj, indent=None) == json.dumps(obj)


def test_a_top_level_list_with_non_finite_numbers_is_null_with_a_warning():
    with pytest.warns(UserWarning, match=r"JSON has no NaN or Infinity; written as null: "
                                         r"\{'/1/loss': 'NaN'\}"):
        text = io.json_text([{"loss": 1.0}, {"loss": float("nan")}])
    assert _strict(text) == [{"loss": 1.0}, {"loss": None}]


def test_write_json_atomic_writes_strict_json_that_reads_back(tmp_path):
    io.write_json_atomic(tmp_path / "r.json", {"test": {"loss": float("nan"), "acc": 1.0}})
    data = _strict((tmp_path / "r.json").read_text())
    assert data["test"] == {"loss": None, "acc": 1.0}
    back = io.restore_non_finite(data)
    assert math.isnan(back["test"]["loss"]) and back["test"]["acc"] == 1.0
    assert "non_finite" not in back and "non_finite" in data  # a copy


@pytest.mark.parametrize("notes", [
    {"/test/acc": "NaN"},  # not a null there
    {"/test/nope": "NaN"},
    {"/test/loss": "nan"},  # not one of JSON's spellings
    {"/test/loss/0": "NaN"},
    {"/list/x": "NaN"},
    "NaN",
])
def test_restore_refuses_notes_that_do_not_point_at_nulls(notes):
    data = {"test": {"loss": None, "acc": 1.0}, "list": [None], "non_finite": notes}
    with pytest.raises(ValueError, match="^non_finite: "):
        io.restore_non_finite(data)


def test_restore_leaves_data_without_notes_alone():
    data = {"test": {"loss": None}}
    assert io.restore_non_finite(data) is data
    assert io.restore_non_finite([1, None]) == [1, None]
