"""Parameter importances of a study: Optuna's fANOVA over its complete trials, worked out
in a helper process started with the tune.

fANOVA fits scikit-learn's random forest, and importing scikit-learn (with SciPy) takes
about 1.2 s on 2 cores, as long as the trials of a small tune. The helper
(`python -m deepnet.tune.importance`) makes that import while the trials run (a small
network's trials leave most of a second core idle; on a busy machine it competes with
them), then answers once: it reads the complete trials as JSON on stdin and prints their
importances, computed by the same `importances` function as in this process. Where
scikit-learn is already imported, or the helper cannot answer, the importances are
computed here: the figures are the same either way.
"""

from __future__ import annotations

import json
import subprocess
import sys

HELPER_TIMEOUT_S = 600.0  # for the helper's answer (its import and fANOVA) once it is asked


def importances(study, seed: int) -> dict[str, float]:
    """Parameter importances (fANOVA) over the complete trials; {} while too few."""
    import optuna
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 3 or len({t.value for t in done}) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        out = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception:  # e.g. parameters that differ between trials of an edited space
        return {}
    return {k: float(v) for k, v in out.items()}


def trials_json(study, seed: int) -> str:
    """What the helper needs of `study`: its direction, `seed` and complete trials."""
    from optuna.distributions import distribution_to_json
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return json.dumps({"direction": study.direction.name.lower(), "seed": seed, "trials": [
        {"params": t.params, "value": t.value,
         "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()}}
        for t in done]})


def study_from_json(text: str):
    """An in-memory study of the complete trials `trials_json` wrote, and the seed."""
    import optuna
    from optuna.distributions import json_to_distribution

    sent = json.loads(text)
    study = optuna.create_study(direction=sent["direction"])
    study.add_trials([optuna.trial.create_trial(
        params=t["params"], value=t["value"],
        distributions={k: json_to_distribution(d) for k, d in t["distributions"].items()})
        for t in sent["trials"]])
    return study, sent["seed"]


class Helper:
    """The helper process, started now; `importances` asks it once (or works them out
    here); `close` stops it if it is still running. A context manager."""

    def __init__(self) -> None:
        self.proc = None
        if "sklearn.ensemble" not in sys.modules:  # imported already: nothing to gain
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "deepnet.tune.importance"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def importances(self, study, seed: int) -> dict[str, float]:
        """The helper's answer; worked out here where there is no helper, or where it
        died, hung or answered nonsense, or the trials could not be sent to it."""
        if self.proc is not None:
            try:
                out, _ = self.proc.communicate(trials_json(study, seed),
                                               timeout=HELPER_TIMEOUT_S)
                if self.proc.returncode == 0:
                    return {k: float(v) for k, v in json.loads(out).items()}
            except Exception:  # noqa: BLE001, S110 - any failure: the fallback below
                pass
            finally:
                self.close()
        return importances(study, seed)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main() -> None:
    import optuna
    import optuna.importance  # noqa: F401  (scikit-learn: the import this process is for)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, seed = study_from_json(sys.stdin.read())
    print(json.dumps(importances(study, seed)))


if __name__ == "__main__":
    main()
