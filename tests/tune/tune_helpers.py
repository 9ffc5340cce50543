"""Helpers of the tune tests (a module of its own: conftest.py is not importable)."""

import os
import subprocess
import sys


def deepnet_cli(*args, timeout=600, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "deepnet", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def load_trials(storage: str, study: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.load_study(study_name=study, storage=JournalStorage(JournalFileBackend(storage)))
    return st.get_trials(deepcopy=True)
