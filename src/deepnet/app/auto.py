"""`deepnet train SPEC --auto [--rounds N]`: train, diagnose, apply the top remedy to a copy
of the spec, retrain; up to N rounds; keep the best run by validation metric.

Each round's change is printed as a unified diff of the spec, with the finding that
motivated it. A remedy already applied is not applied again. When a remedy helped but the
new run has nothing left to repair, the loop takes one more step the same way: a learning
rate the remedy moved is moved again by the same factor (at most tenfold), so a rate
lowered tenfold to a stable but slow one is lowered again. It stops early when there is
nothing to apply, or when a step no longer helps.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepnet.core.errors import DeepnetError
from deepnet.diagnose.findings import Finding, Remedy, apply_changes, rounded
from deepnet.spec.paths import get_path
from deepnet.train.metrics import higher_is_better

# Severities whose remedies the loop applies: an info finding (overfitting that early
# stopping already undid by keeping the best epoch) is a note, not a fault to repair, and
# changing a healthy run can only make it worse.
ACT_ON = ("warning", "critical")
# A step further moves a STEPPED value the remedy changed by the same factor, kept within
# [1/STEP_LIMIT, STEP_LIMIT]: a rate raised 100x to the usual one is raised 10x more. Only
# the rate: widths and epochs grown tenfold per step make networks and runs that do not
# fit the budget (a width of 2 widened to 128 would become 1280, then 12800).
STEPPED = ("train.optimizer.lr",)
STEP_LIMIT = 10.0


@dataclass
class Round:
    number: int
    run: object  # deepnet.Run
    findings: list[Finding]
    metric: str
    score: float  # the validation metric of the kept weights
    applied: Finding | None = None  # the finding whose remedy made the next round's spec
    diff: str = ""  # that change, as a unified diff of the spec

    def to_dict(self) -> dict:
        return {"round": self.number, "run_dir": str(self.run.path),
                f"val_{self.metric}": self.score,
                "findings": [f.kind for f in self.findings],
                "applied": None if self.applied is None else {
                    "kind": self.applied.kind, "changes": self.applied.remedy.changes}}


@dataclass
class AutoResult:
    rounds: list[Round] = field(default_factory=list)

    @property
    def best(self) -> Round:
        """The round with the best validation metric; a run without one (NaN: it diverged
        before its first epoch ended) only when no round has one. Of rounds whose
        validation accuracies differ by less than NOISE_SE standard errors (the same
        within the noise of the validation rows), the one with fewer warning-level
        findings: a run still showing its fault is not kept for one row more right."""
        higher = higher_is_better(self.rounds[0].metric)
        top = min(self.rounds, key=lambda r: (
            math.isnan(r.score), -r.score if higher else r.score, _warnings(r), r.number))
        close = [r for r in self.rounds if _same_accuracy(r, top)]
        return min(close, key=lambda r: (_warnings(r), -r.score, r.number)) if close else top

    def to_dict(self) -> dict:
        return {"rounds": [r.to_dict() for r in self.rounds], "best": self.best.to_dict()}


def _warnings(r: Round) -> int:
    return sum(f.severity in ACT_ON for f in r.findings)


NOISE_SE = 2.0  # accuracies this many standard errors apart differ by more than noise


def _same_accuracy(r: Round, top: Round) -> bool:
    """Whether r's validation accuracy is within NOISE_SE standard errors of top's (the
    binomial error at their mean, on the validation rows); False for other metrics."""
    results = getattr(r.run, "results", None)  # None: a round made up in a test
    rows = results.samples.get("val", 0) if results is not None else 0
    if r.metric != "accuracy" or not rows or math.isnan(r.score) or math.isnan(top.score):
        return False
    p = (r.score + top.score) / 2
    return top.score - r.score <= NOISE_SE * math.sqrt(p * (1 - p) / rows)


def validation_score(run) -> tuple[str, float]:
    """(main metric, its validation value at the kept epoch) of a run."""
    metric = run.spec.train.metrics[0]
    epoch = run.results.best_epoch or len(run.history)
    if not run.history:
        return metric, float("nan")
    logs = run.history[min(max(epoch, 1), len(run.history)) - 1]
    value = logs.get(f"val_{metric}")
    return metric, float(value) if value is not None else float("nan")


def spec_diff(old, new, label_old: str, label_new: str) -> str:
    return "\n".join(difflib.unified_diff(old.to_yaml().splitlines(), new.to_yaml().splitlines(),
                                          label_old, label_new, lineterm="", n=1))


def _why(finding: Finding) -> str:
    """The checks that made a finding, `metric value (op threshold)`; else its first
    numbers."""
    evidence = finding.to_dict()["evidence"]
    checks = evidence.get("checks") or []
    return "; ".join(f"{c['metric']} {c['value']:g} ({c['op']} {c['threshold']:g})"
                     for c in checks) or ", ".join(f"{k} {v}" for k, v in
                                                  list(evidence.items())[:4])


def _improved(new: Round, old: Round) -> bool:
    if math.isnan(new.score):
        return False
    higher = higher_is_better(new.metric)
    return math.isnan(old.score) or (new.score > old.score if higher else new.score < old.score)


def step_further(result: AutoResult) -> Finding | None:
    """The last remedy one step further, when it improved the validation metric: the
    STEPPED values it changed (the learning rate) moved again by the same factor, at most
    STEP_LIMIT either way (a line search along the direction that helped). None when the
    last round applied nothing, did not help, or changed none of them."""
    if len(result.rounds) < 2:
        return None
    prev, last = result.rounds[-2], result.rounds[-1]
    if prev.applied is None or not _improved(last, prev):
        return None
    before, after = prev.run.spec.to_dict(), last.run.spec.to_dict()
    changes = {}
    for path in (p for p in prev.applied.remedy.changes if p in STEPPED):
        old, new = get_path(before, path), get_path(after, path)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                   for v in (old, new)) or old == new:
            continue
        factor = min(max(new / old, 1 / STEP_LIMIT), STEP_LIMIT)
        changes[path] = rounded(new * factor, 3)
    if not changes:
        return None
    f = prev.applied
    text = f.remedy.text.split(FURTHER_END, 1)[-1]  # a step further's own remedy text
    return Finding(f.kind, f.severity, f.evidence, f.explanation, Remedy(changes, (
        f"{FURTHER}: the last change raised val_{last.metric} from {prev.score:.4g} to "
        f"{last.score:.4g} and left nothing to repair{FURTHER_END}{text}")))


FURTHER, FURTHER_END = "One step further", ". It was: "


def _key(changes: dict) -> str:
    return json.dumps(changes, sort_keys=True, default=str)


def with_range_test(pick: Finding, spec, log: Callable[[str], None]) -> Finding:
    """`pick` with its learning rate taken from the range test (deepnet.app.lr_find) of
    `spec`, when the remedy changes the rate and the test's suggestion moves it the same
    way; else `pick` as it is."""
    from deepnet.app.lr_find import lr_find

    path = STEPPED[0]
    if path not in pick.remedy.changes:
        return pick
    old, new = float(get_path(spec.to_dict(), path)), float(pick.remedy.changes[path])
    test = lr_find(spec)
    if test.suggested is None or (test.suggested - old) * (new - old) <= 0:
        log(f"lr-find suggests {test.suggested or float('nan'):.3g}, which does not move the "
            f"rate the remedy's way ({old:g} to {new:g}): the remedy's rate is kept")
        return pick
    rate = rounded(test.suggested, 3)
    log(f"lr-find: the rate {rate:g} ({test.rule}) instead of the remedy's {new:g}")
    return Finding(pick.kind, pick.severity, pick.evidence, pick.explanation, Remedy(
        {**pick.remedy.changes, path: rate},
        f"{pick.remedy.text} The rate is the learning-rate range test's suggestion."))


def auto_train(spec, rounds: int = 3, out: str | Path | None = None, quiet: bool = False,
               runs_root: str | Path = "runs", log: Callable[[str], None] = print,
               lr_find: bool = False) -> AutoResult:
    """Up to `rounds` runs, each from the previous spec with the top remedy applied.
    `lr_find`: a remedy that changes the learning rate takes the range test's rate."""
    from deepnet.app.train import train
    from deepnet.diagnose import diagnose

    if rounds < 1:
        raise DeepnetError(f"--rounds must be at least 1; got {rounds}")
    result = AutoResult()
    tried: set[str] = set()
    current = spec
    for n in range(1, rounds + 1):
        run = train(current, out=None if out is None else Path(out) / f"round-{n}", quiet=quiet,
                    runs_root=runs_root)
        findings = diagnose(run)
        metric, score = validation_score(run)
        r = Round(n, run, findings, metric, score)
        result.rounds.append(r)
        log(f"round {n}: {run.path}  val_{metric} {score:.4f}  findings: "
            + ", ".join(f"{f.kind} ({f.severity})" for f in findings))
        if n == rounds:
            break
        pick = next((f for f in findings if f.severity in ACT_ON and f.remedy.changes
                     and _key(f.remedy.changes) not in tried), None)
        if pick is None and not any(f.severity in ACT_ON for f in findings):
            pick = step_further(result)
            if pick is not None and _key(pick.remedy.changes) in tried:
                pick = None
        if pick is None:
            log("nothing left to change: " + (
                "every remedy was tried" if any(f.severity in ACT_ON for f in findings) else
                "no warning-level finding (the run is healthy, or its findings are notes)"))
            break
        tried.add(_key(pick.remedy.changes))
        if lr_find:
            pick = with_range_test(pick, current, log)
        new = apply_changes(current, pick.remedy.changes)
        r.applied, r.diff = pick, spec_diff(current, new, f"round {n} spec", f"round {n + 1} spec")
        log(f"round {n + 1} applies the remedy for {pick.kind} ({_why(pick)}): {pick.remedy.text}")
        log(r.diff)
        current = new
    best = result.best
    log(f"best: round {best.number}, {best.run.path}  val_{best.metric} {best.score:.4f}")
    return result
