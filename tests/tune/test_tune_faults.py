"""Faults: a trial that raises or diverges fails with its reason and the study goes on; a
killed tune command continues where it was, losing no completed trial; several workers on
one storage finish exactly the trials asked, each once."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml

import deepnet
from deepnet.cli import main
from deepnet.spec import Spec
from deepnet.tune import _job
from deepnet.tune.worker import (
    fail_orphans,
    kept_value,
    make_storage,
    open_study,
    owner,
    run_trial,
    work,
)


def load_trials(storage: str, study: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.load_study(study_name=study, storage=JournalStorage(JournalFileBackend(storage)))
    return st.get_trials(deepcopy=True)


def _complete(trials):
    return {t.number: t.value for t in trials if t.state.name == "COMPLETE"}


def test_raising_and_diverging_trials_fail_with_reasons_and_the_study_goes_on(
        tmp_path, tune_spec_dict, one_thread):
    tune_spec_dict["train"]["epochs"] = 2
    spec = Spec.from_dict(tune_spec_dict)
    job = _job(spec, 1, None, None, None, tmp_path / "t", deepnet.train)
    study = open_study(job)

    bad_shape = [{"conv1d": {"filters": 4, "kernel": 3}}, {"dense": 10}]  # images are 2-D
    assert run_trial(job, study, study.ask(), {"model.layers": bad_shape}) == "failed"
    assert run_trial(job, study, study.ask(), {"train.optimizer.name": "sgd",
                                               "train.optimizer.lr": 1.0e6}) == "failed"
    failed = study.get_trials()
    assert [t.state.name for t in failed] == ["FAIL", "FAIL"]
    assert failed[0].user_attrs["reason"].startswith("DataError") or \
        failed[0].user_attrs["reason"].startswith("SpecError")
    assert "diverged" in failed[1].user_attrs["reason"]
    assert work(job, study) == 0  # failures do not count: a finished trial follows
    assert [t.state.name for t in study.get_trials()][:2] == ["FAIL", "FAIL"]
    assert len(study.get_trials()) == 3


def test_dead_workers_trials_are_failed_live_ones_kept(tmp_path, tune_spec_dict):
    job = _job(Spec.from_dict(tune_spec_dict), 6, None, None, None, tmp_path / "t", deepnet.train)
    study = open_study(job)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan, unnamed, mine = study.ask(), study.ask(), study.ask()
    orphan.set_user_attr("host", owner()["host"])
    orphan.set_user_attr("pid", dead.pid)
    orphan.set_user_attr("pid_start", "1")
    for k, v in owner().items():
        mine.set_user_attr(k, v)
    fail_orphans(study, database=False)
    states = {t.number: (t.state.name, t.user_attrs.get("reason", "")) for t in
              study.get_trials()}
    assert states[orphan.number][0] == "FAIL" and f"pid {dead.pid}" in states[orphan.number][1]
    assert states[unnamed.number][0] == "FAIL" and "died" in states[unnamed.number][1]
    assert states[mine.number] == ("RUNNING", "")


def test_torn_journal_line_is_repaired(tmp_path, tune_spec_dict, one_thread):
    tune_spec_dict["train"]["epochs"] = 1
    spec = Spec.from_dict(tune_spec_dict)
    r = deepnet.tune(spec, trials=1, out=tmp_path / "t", quiet=True)
    journal = tmp_path / "t" / "study.journal"
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 4, "worker_id": "x", "study_id": 0, "datetime_st')  # killed
    make_storage(str(journal))
    assert journal.read_bytes().endswith(b"\n")
    again = deepnet.tune(spec, trials=2, out=tmp_path / "t", quiet=True)
    assert again.rows[0] == r.rows[0] and again.trials["complete"] + again.trials["pruned"] == 2


def test_sqlalchemy_storage(tmp_path, tune_spec_dict, one_thread):
    tune_spec_dict["train"]["epochs"] = 1
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    r = deepnet.tune(Spec.from_dict(tune_spec_dict), trials=1, storage=url, study="s1",
                     out=tmp_path / "t", quiet=True)
    assert r.storage == url and r.trials["complete"] == 1
    assert (tmp_path / "tune.db").exists() and not (tmp_path / "t" / "study.journal").exists()


def _write_spec(tmp_path, tune_spec_dict, epochs):
    tune_spec_dict["train"]["epochs"] = epochs
    tune_spec_dict["tune"]["pruner"] = "none"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tune_spec_dict))
    return path


def test_sigkill_during_a_trial_then_the_same_command_finishes_the_study(
        tmp_path, tune_spec_dict, one_thread, capsys):
    path = _write_spec(tmp_path, tune_spec_dict, epochs=3)
    out = tmp_path / "t"
    cmd = [sys.executable, "-m", "deepnet", "tune", str(path), "--trials", "6", "--out",
           str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))

    def training():  # a trial past the first two, with a checkpoint and no results yet
        for n in range(2, 6):
            run = out / f"trial-{n}"
            if (run / "checkpoint").exists() and not (run / "results.json").exists():
                return n
        return None

    deadline = time.time() + 300
    while (victim := training()) is None:
        assert proc.poll() is None and time.time() < deadline, "no trial was caught running"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = load_trials(str(out / "study.journal"), "tune-mlp")
    kept = _complete(before)
    assert sorted(kept) == list(range(victim)) and before[victim].state.name == "RUNNING"

    assert main(cmd[3:]) == 0  # the same command again (here, in this process)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["trials"] == {"complete": 6, "pruned": 0, "failed": 1}
    after = load_trials(str(out / "study.journal"), "tune-mlp")
    assert [t.number for t in after] == list(range(7))
    done = _complete(after)
    assert len(done) == 6
    assert all(done[n] == v for n, v in kept.items())  # nothing completed was lost
    reason = after[victim].user_attrs["reason"]
    assert after[victim].state.name == "FAIL" and "died during the trial" in reason
    assert f"trial {victim} failed: its worker process (pid {proc.pid})" in captured.err


def test_two_workers_share_one_storage(tmp_path, tune_spec_dict, capsys, monkeypatch):
    path = _write_spec(tmp_path, tune_spec_dict, epochs=1)
    out = tmp_path / "t"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the worker processes
    assert main(["tune", str(path), "--trials", "4", "--workers", "2", "--out", str(out),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"] == {"complete": 4, "pruned": 0,
                                                            "failed": 0}
    trials = load_trials(str(out / "study.journal"), "tune-mlp")
    assert [t.number for t in trials] == list(range(4))  # each number once, none lost
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers ran trials
    for t in trials:
        run = out / f"trial-{t.number}"
        history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        best = json.loads((run / "results.json").read_text())["best_epoch"]
        assert kept_value(history, best, "val_accuracy") == t.value
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
