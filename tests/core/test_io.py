"""deepnet.core.io: atomic writes. A crash at any moment leaves the old file or none,
never part of one; results are ordinary 0644 files; DEEPNET_KILL_AT kills mid-write."""

import json
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
