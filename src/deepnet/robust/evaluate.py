"""Robustness evaluation of a run: `deepnet.attack(run, "pgd", eps=0.1)`.

Attacks run on the run's test split (at most `robust.limit` examples) in raw input
units, through the run's saved preprocessing (`run.network()`). Reported per attack and
eps: clean accuracy, robust accuracy (the share still classified correctly), attack success
rate (untargeted: of the clean-correct examples, the share misclassified after the attack;
targeted: of the examples whose target differs from the label, the share classified as the
target), mean and max perturbation norms, and an accuracy-vs-eps curve.

Honest evaluation: runs whose defense obfuscates gradients also get the attacks known to
break them, reported beside the naive figures: CW on logits (and PGD on the logit margin)
for defensive distillation, BPDA through the input transformation. The results go to
`robustness/` in the run directory; the report shows them (deepnet.report.robustness).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from deepnet import attacks as A
from deepnet.attacks import AttackArgs
from deepnet.core.errors import DataError, DeepnetError, SpecError
from deepnet.core.progress import bar
from deepnet.data.encoding import embedded_positions
from deepnet.data.memory import SOURCE as MEMORY
from deepnet.data.transforms import SqueezedPreprocess
from deepnet.runs.files import CURVE_FIGURE, EXAMPLES_FIGURE, RunDir
from deepnet.runs.load import load
from deepnet.runs.records import AttackRecord, Robustness
from deepnet.spec import Attack, format_errors

BATCH = 512
CURVE_FACTORS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEFAULT_EPS = 0.1
DEFAULT_LIMIT = 1000


@dataclass(repr=False)  # AttackRecord's short repr
class AttackResult(AttackRecord):
    """One attack on one set of examples: its record (deepnet.runs.records.AttackRecord,
    what robustness/results.json keeps and `to_dict()` gives, as --json prints it) and
    the examples themselves, for the grid."""

    x: torch.Tensor | None = field(default=None, repr=False)
    x_adv: torch.Tensor | None = field(default=None, repr=False)
    y: torch.Tensor | None = field(default=None, repr=False)
    clean_pred: torch.Tensor | None = field(default=None, repr=False)
    adv_pred: torch.Tensor | None = field(default=None, repr=False)
    goal: torch.Tensor | None = field(default=None, repr=False)

    def record(self) -> AttackRecord:
        """The attack without its examples."""
        return AttackRecord(**{f.name: getattr(self, f.name) for f in fields(AttackRecord)})

    def to_json(self) -> dict:
        return self.record().to_json()

    def to_dict(self) -> dict:
        return self.to_json()


# ----------------------------------------------------------------------------- inputs
def check_attackable(run) -> None:
    """DeepnetError (exit 2) for runs that cannot be attacked in input space."""
    if run.encoding.kind == "text":
        raise DeepnetError("attacks on token inputs are not supported: this run is a text "
                           "model whose inputs are discrete word ids, not values that a "
                           "small perturbation can change; attack a model of numeric inputs")
    if run.task != "classification":
        raise DeepnetError(f"attacks need a classification run; this one is {run.task}")
    codes = embedded_positions(run.encoding)
    if codes and len(codes) == math.prod(run.input_shape):
        names = [c.name for c in run.encoding.columns]
        raise DeepnetError(f"this run's inputs are all categorical columns looked up in "
                           f"embeddings ({', '.join(names)}): an attack perturbs numeric "
                           "inputs only, and a category code cannot be changed a little; "
                           "attack a model with numeric inputs")


def valid_range(run) -> tuple[float, float]:
    """The raw inputs' valid range: the training split's min and max, saved with the
    model (an ensemble: the union of its members'; older runs: recomputed from the data)."""
    if run.meta.x_range is not None:
        lo, hi = run.meta.x_range
        return float(lo), float(hi)
    if run.members:
        ranges = [valid_range(m) for m in run.members]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)
    from deepnet.data.prepare import prepare

    return tuple(prepare(run.spec).x_range)


def given_examples(run, examples) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw inputs, targets) as tensors of `examples` = (x, y): arrays, tensors or a
    DataFrame of inputs, and labels of the run's classes."""
    x, y = examples
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x, y
    return torch.as_tensor(run.as_inputs(x, "examples")), \
        torch.as_tensor(run.targets(y, "examples"))  # np.asarray reads a CPU tensor too


def test_examples(run, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw inputs, labels) of the run's test split, at most `limit` of them."""
    from deepnet.data.prepare import prepare

    if run.spec.data.source == MEMORY:
        raise DataError("this run was trained on data passed in Python, so its test split "
                        "cannot be read again: pass the examples to attack, e.g. "
                        "deepnet.attack(run, 'pgd', examples=(x_test, y_test))")
    prepared = prepare(run.spec)
    idx = prepared.splits["test"]
    if len(idx) == 0:
        raise DeepnetError("the run's spec has no test split (data.split.test is 0); "
                           "attacks run on the test split")
    if limit is not None:
        idx = idx[:limit]
    x = run.as_inputs(np.asarray(prepared.dataset.x[idx]))  # float32; token ids stay ints
    return torch.as_tensor(x), torch.as_tensor(prepared.targets(prepared.dataset.y[idx]))


def network(run, bpda: bool = False) -> torch.nn.Module:
    """The run's model behind its preprocessing, raw inputs in. With `bpda` an input
    transformation passes gradients straight through (the adaptive attack)."""
    if bpda and isinstance(run.preprocess, SqueezedPreprocess):
        return torch.nn.Sequential(run.preprocess.module(bpda=True), run.model).eval()
    return run.network()


def _args(method: str, options: dict) -> AttackArgs:
    """The attack's own argument model (attacks.ATTACKS) of `options`: an option that
    this attack does not take is a SpecError naming it."""
    try:
        args = A.ATTACKS.get(method).args
    except ValueError as e:
        raise DeepnetError(f"--method: {e}") from None
    try:
        return args(**options)
    except ValidationError as e:
        raise SpecError(format_errors(e, f"{method} attack", args)) from None


# ----------------------------------------------------------------------------- one attack
@torch.no_grad()
def _predict(net, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([A.logits(net, x[i:i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)])


def _run_attack(net, method: str, a: AttackArgs, eps: float | None, norm: str,
                x: torch.Tensor, goal: torch.Tensor, bounds, generator,
                pinned: list[int]) -> torch.Tensor:
    """The attack's examples, the `pinned` features (embedded codes) as they were."""
    kind = A.ATTACKS.get(method)
    kw = {"norm": norm, "targeted": a.targeted, "bounds": bounds, "generator": generator,
          **a.keywords()}
    try:
        return A.pin(torch.cat([kind.run(net, x[i:i + BATCH], goal[i:i + BATCH], eps, **kw)
                                for i in range(0, len(x), BATCH)]), x, pinned)
    except ValueError as e:
        raise DeepnetError(f"{method}: {e}") from None


def attack(run, method: str = "pgd", eps: float | None = None, *, seed: int = 0,
           limit: int | None = None, variant: str = "naive", bpda: bool = False,
           curve: bool | list[float] = False, examples=None, **options) -> AttackResult:
    """Attack the run's test split (at most `limit` examples: default robust.limit, else
    1000) and measure it; `examples` = (raw x, y) attacks those instead.

    `options` are those of `robust.attacks` in the spec, each attack its own
    (deepnet.attacks: norm, steps, restarts, alpha, random_start, loss, targeted, target,
    targets, queries, p_init, alpha_max, eta, beta, c, kappa, lr, overshoot). eps is in
    raw input units (default 0.1; none, i.e. minimal perturbations, for cw and deepfool). `curve`: True or a list of eps values for the accuracy-vs-eps curve.

    >>> r = deepnet.attack(deepnet.load("runs/digits"), "pgd", eps=0.1)
    >>> r.robust_accuracy, r.to_dict()
    """
    run = load(run)  # a Run or its directory
    check_attackable(run)
    a = _args(method, {**options, "eps": eps})
    kind = A.ATTACKS.get(method)
    a = a.run_as(kind.steps)  # the record states the steps run, not null for the default
    if not kind.minimal and a.eps is None:
        a = a.model_copy(update={"eps": DEFAULT_EPS})
    norm = a.norm or kind.norm
    net = network(run, bpda)
    bounds = valid_range(run)
    x, y = given_examples(run, examples) if examples is not None else \
        test_examples(run, _limit(run, limit))
    g = torch.Generator().manual_seed(seed)
    goal = y
    if a.targeted:
        try:
            goal = A.pick_targets(net, x, y, a.target, len(run.classes), g)
        except ValueError as e:
            raise DeepnetError(f"--target: {e}") from None
    started = time.perf_counter()
    pinned = embedded_positions(run.encoding)
    x_adv = _run_attack(net, method, a, a.eps, norm, x, goal, bounds, g, pinned)
    seconds = time.perf_counter() - started
    clean, adv = _predict(net, x), _predict(net, x_adv)
    result = _measure(method, variant, norm, a, x, x_adv, y, clean, adv, goal, seconds)
    if curve:
        values = curve if isinstance(curve, list) else a.curve or default_curve(method, a.eps,
                                                                                 result)
        result.curve = accuracy_curve(net, method, a, norm, x, y, goal, clean, x_adv, adv,
                                      values, bounds, seed, pinned)
    return result


def _limit(run, limit: int | None) -> int | None:
    if limit is not None:
        return limit
    return run.spec.robust.limit if run.spec.robust is not None else DEFAULT_LIMIT


def _measure(method, variant, norm, a: AttackArgs, x, x_adv, y, clean, adv, goal,
             seconds) -> AttackResult:
    d = A.norms(x_adv - x, norm)
    if a.targeted:
        eligible = goal != y
        success = (adv == goal)[eligible].float().mean().item() if eligible.any() else 0.0
    else:
        ok = clean == y
        success = (adv != y)[ok].float().mean().item() if ok.any() else 0.0
    options = a.options()
    return AttackResult(
        method=method, variant=variant, norm=norm, eps=a.eps, targeted=a.targeted,
        target=a.target if a.targeted else None, n=len(y),
        clean_accuracy=(clean == y).float().mean().item(),
        robust_accuracy=(adv == y).float().mean().item(), success_rate=success,
        mean_perturbation=d.mean().item() if len(d) else 0.0,
        max_perturbation=d.max().item() if len(d) else 0.0, seconds=round(seconds, 3),
        options=options, x=x, x_adv=x_adv, y=y, clean_pred=clean, adv_pred=adv, goal=goal)


def default_curve(method: str, eps: float | None, result: AttackResult) -> list[float]:
    """The eps values of an attack's accuracy curve when none are given: around its eps
    (a costly attack, such as autoattack, only 0 and its eps: no extra runs)."""
    kind = A.ATTACKS.get(method)
    if kind.costly:
        return [0.0, eps]
    if kind.minimal:
        top = eps if eps is not None else max(result.max_perturbation, 1e-6)
        return [round(top * f / 2, 6) for f in CURVE_FACTORS]
    return [round(eps * f, 6) for f in CURVE_FACTORS]


def accuracy_curve(net, method, a: AttackArgs, norm, x, y, goal, clean, x_adv, adv,
                   values: list[float], bounds, seed: int, pinned: list[int] = ()
                   ) -> list[tuple[float, float]]:
    """Robust accuracy at each eps. cw and deepfool give minimal perturbations: an example
    falls at every eps at or above its perturbation's norm; the others are rerun at each
    eps but 0 and their own."""
    out = []
    if A.ATTACKS.get(method).minimal:
        d = A.norms(x_adv - x, norm)
        broken = adv == goal if a.targeted else adv != y
        for e in values:
            fooled = broken & (d <= e + 1e-6)
            out.append((float(e), ((clean == y) & ~fooled).float().mean().item()))
        return out
    for e in values:
        if e == 0:
            out.append((0.0, (clean == y).float().mean().item()))
            continue
        if e == a.eps:  # the attack itself
            out.append((float(e), (adv == y).float().mean().item()))
            continue
        g = torch.Generator().manual_seed(seed)
        xa = _run_attack(net, method, a, float(e), norm, x, goal, bounds, g, list(pinned))
        out.append((float(e), (_predict(net, xa) == y).float().mean().item()))
    return out


# ----------------------------------------------------------------------------- honest evaluation
# The full-budget adaptive attack: APGD (no step size to tune) with restarts on the
# examples still standing; on the digits a sixth restart changed nothing.
FULL_BUDGET = {"steps": 100, "restarts": 5}


def adaptive_attacks(run, method: str, eps: float | None, options: dict
                     ) -> list[tuple[str, str, float | None, dict, bool]]:
    """(variant, method, eps, options, bpda) of the attacks that break the run's
    gradient-obfuscating defenses, matched to a naive attack: the classic ones at the
    naive attack's budget (CW and the margin loss on the logits for distillation, BPDA
    for input transforms) and, for an attack with an eps, APGD at FULL_BUDGET (DLR loss
    for distillation: it does not see the softmax's temperature; through BPDA for input
    transforms)."""
    d = run.spec.robust.defense if run.spec.robust is not None else None
    out = []
    if d is None:
        return out
    norm = options.get("norm") or A.ATTACKS.get(method).norm
    if d.distillation is not None:
        keep = {k: v for k, v in options.items() if k in ("targeted", "target")}
        cw_eps = eps if norm == "l2" else None
        if method != "cw":
            out.append(("CW on logits", "cw", cw_eps, {**keep, "norm": "l2"}, False))
        if method in ("fgsm", "pgd") and options.get("loss", "ce") == "ce":
            out.append((f"{method} on the logit margin", method, eps,
                        {**options, "loss": "margin"}, False))
    if d.input_transform is not None:
        out.append(("BPDA through the input transform", method, eps, options, True))
    if eps is None or options.get("targeted"):
        return out
    full = {"norm": norm, **FULL_BUDGET}
    if d.distillation is not None and len(run.classes) >= 3:
        out.append(("APGD-DLR at full budget", "apgd", eps, {**full, "loss": "dlr"}, False))
    elif d.distillation is not None:  # DLR needs 3 classes; the margin is as blind to T
        out.append(("APGD on the logit margin at full budget", "apgd", eps,
                    {**full, "loss": "margin"}, False))
    if d.input_transform is not None:
        out.append(("APGD through BPDA at full budget", "apgd", eps, full, True))
    return out


def evaluate_robustness(run, method: str = "pgd", eps: float | None = None, *,
                        seed: int = 0, limit: int | None = None, adaptive: bool = True,
                        curve: bool = True, **options) -> list[AttackResult]:
    """The naive attack and, when the run's defense obfuscates gradients, the adaptive
    ones beside it; all on the same examples. Progress (deepnet.core.progress): a bar
    with the time so far while each attack runs, and a line as it ends (AutoAttack takes minutes on a CPU)."""
    check_attackable(run)
    _args(method, {**options, "eps": eps})  # a bad name or option: refused before any work
    examples = test_examples(run, _limit(run, limit))
    plan, results = [("naive", method, eps, options, False)], []
    while plan:
        variant, m, e, opts, bpda = plan.pop(0)
        with bar(f"attack {m} ({variant}), {len(examples[1])} examples", 1, "attacks") as b:
            r = attack(run, m, e, seed=seed, variant=variant, examples=examples,
                       curve=curve, bpda=bpda, **opts)
            b.advance()
            b.say(f"attack {m} ({variant}), eps {r.eps if r.eps is not None else 'minimal'}: "
                  f"robust accuracy {r.robust_accuracy:.4f} ({r.seconds:.1f} s)")
        results.append(r)
        if len(results) == 1 and adaptive:
            plan = adaptive_attacks(run, method, r.eps, options)
    return results


def evaluate_spec(run) -> list[AttackResult]:
    """After training: the spec's `robust.attacks` (default: AutoAttack at the adversarial
    training eps, else 0.1) with their adaptive counterparts, saved in `robustness/`."""
    check_attackable(run)
    r = run.spec.robust
    items = list(r.attacks) if r.attacks else [_default_attack(r)]
    results = []
    for item in items:
        opts = item.value.model_dump(exclude_none=True)
        eps = opts.pop("eps", None)
        results += evaluate_robustness(run, item.kind, eps, **opts)
    save(run, results)
    return results


def _default_attack(r) -> Attack:
    d = r.defense
    at = d.adversarial_training if d is not None else None
    eps = at.eps if at is not None else DEFAULT_EPS
    norm = at.norm if at is not None else "linf"
    return Attack(autoattack={"eps": eps, "norm": norm})


# ----------------------------------------------------------------------------- saving, report
def save(run, results: list[AttackResult]) -> Path:
    """Merge `results` into the run's `robustness/results.json` (a rerun of the same attack
    replaces it) and draw the example grid and curves beside it; the app then rewrites
    the run's report. Returns the results file."""
    from deepnet.robust.figures import curve_png, grid_png

    files = RunDir(run.path)
    record = (files.read_robustness() or Robustness()).merge(
        [r.record() for r in results])
    figures = {EXAMPLES_FIGURE: grid_png(results[0], run.classes),
               CURVE_FIGURE: curve_png(record.attacks)}
    return files.write_robustness(record, figures)
