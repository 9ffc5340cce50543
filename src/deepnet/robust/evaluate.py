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
`robustness/` in the run directory and into its report (`report_sections(run)`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from deepnet import attacks as A
from deepnet.core.errors import DeepnetError, SpecError
from deepnet.core.io import write_bytes_atomic, write_json_atomic
from deepnet.data.transforms import SqueezedPreprocess
from deepnet.spec import Attack, AttackArgs, format_errors

FOLDER = "robustness"
BATCH = 512
CURVE_FACTORS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEFAULT_EPS = 0.1
DEFAULT_STEPS = {"fgsm": 1, "pgd": 20, "cw": 100, "deepfool": 50}
DEFAULT_LIMIT = 1000
OPTIONS = {"fgsm": ("alpha", "loss", "targeted"),
           "pgd": ("steps", "restarts", "alpha", "random_start", "loss", "targeted"),
           "cw": ("steps", "c", "kappa", "lr", "targeted"),
           "deepfool": ("steps", "overshoot", "targeted")}


@dataclass
class AttackResult:
    """One attack on one set of examples; `to_dict()` is what --json prints."""

    method: str
    variant: str  # naive, or the adaptive attack's name
    norm: str
    eps: float | None
    targeted: bool
    target: int | str | None
    n: int
    clean_accuracy: float
    robust_accuracy: float
    success_rate: float
    mean_perturbation: float
    max_perturbation: float
    seconds: float
    options: dict = field(default_factory=dict)
    curve: list[tuple[float, float]] = field(default_factory=list)  # (eps, robust accuracy)
    # the examples, for the grid (not in to_dict)
    x: torch.Tensor | None = field(default=None, repr=False)
    x_adv: torch.Tensor | None = field(default=None, repr=False)
    y: torch.Tensor | None = field(default=None, repr=False)
    clean_pred: torch.Tensor | None = field(default=None, repr=False)
    adv_pred: torch.Tensor | None = field(default=None, repr=False)
    goal: torch.Tensor | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "method", "variant", "norm", "eps", "targeted", "target", "n", "clean_accuracy",
            "robust_accuracy", "success_rate", "mean_perturbation", "max_perturbation",
            "seconds", "options")}
        d["curve"] = [list(p) for p in self.curve]
        return d


# ----------------------------------------------------------------------------- inputs
def check_attackable(run) -> None:
    """DeepnetError (exit 2) for runs that cannot be attacked in input space."""
    if run.encoding.get("kind") == "text":
        raise DeepnetError("attacks on token inputs are not supported: this run is a text "
                           "model whose inputs are discrete word ids, not values that a "
                           "small perturbation can change; attack a model of numeric inputs")
    if run.task != "classification":
        raise DeepnetError(f"attacks need a classification run; this one is {run.task}")


def valid_range(run) -> tuple[float, float]:
    """The raw inputs' valid range: the training split's min and max, saved with the
    model (older runs: recomputed from the data)."""
    from deepnet.runs.ensemble import member_runs

    members = member_runs(run)
    if members:
        ranges = [valid_range(m) for m in members]
        return min(r[0] for r in ranges), max(r[1] for r in ranges)
    from deepnet.runs.run import read_model

    meta = {}
    file = Path(run.path) / "model.safetensors"
    if file.is_file():
        meta = read_model(file)[1]
    if meta.get("x_range"):
        lo, hi = meta["x_range"]
        return float(lo), float(hi)
    from deepnet.data.prepare import prepare

    return tuple(prepare(run.spec).x_range)


def test_examples(run, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw inputs, labels) of the run's test split, at most `limit` of them."""
    from deepnet.data.prepare import prepare

    prepared = prepare(run.spec)
    idx = prepared.splits["test"]
    if len(idx) == 0:
        raise DeepnetError("the run's spec has no test split (data.split.test is 0); "
                           "attacks run on the test split")
    if limit is not None:
        idx = idx[:limit]
    x = np.asarray(prepared.dataset.x[idx], dtype=np.float32)
    x = run.as_inputs(x)
    return torch.as_tensor(x), torch.as_tensor(prepared.targets(prepared.dataset.y[idx]))


def network(run, bpda: bool = False) -> torch.nn.Module:
    """The run's model behind its preprocessing, raw inputs in. With `bpda` an input
    transformation passes gradients straight through (the adaptive attack)."""
    if bpda and isinstance(run.preprocess, SqueezedPreprocess):
        return torch.nn.Sequential(run.preprocess.module(bpda=True), run.model).eval()
    return run.network()


def _args(method: str, options: dict) -> AttackArgs:
    try:
        A.get(method)
    except ValueError as e:
        raise DeepnetError(f"--method: {e}") from None
    try:
        return AttackArgs(**options)
    except ValidationError as e:
        raise SpecError(format_errors(e, f"{method} attack")) from None


# ----------------------------------------------------------------------------- one attack
@torch.no_grad()
def _predict(net, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([A.logits(net, x[i:i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)])


def _run_attack(net, method: str, a: AttackArgs, eps: float | None, norm: str,
                x: torch.Tensor, goal: torch.Tensor, bounds, generator) -> torch.Tensor:
    fn = A.get(method)
    kw = {"norm": norm, "targeted": a.targeted, "bounds": bounds, "generator": generator}
    steps = a.steps or DEFAULT_STEPS[method]
    if method == "fgsm":
        kw |= {"alpha": a.alpha, "loss": a.loss}
    elif method == "pgd":
        kw |= {"steps": steps, "alpha": a.alpha, "random_start": a.random_start,
               "restarts": a.restarts, "loss": a.loss}
    elif method == "cw":
        kw |= {"steps": steps, "c": a.c, "kappa": a.kappa, "lr": a.lr}
    else:
        kw |= {"steps": steps, "overshoot": a.overshoot}
    try:
        return torch.cat([fn(net, x[i:i + BATCH], goal[i:i + BATCH], eps, **kw)
                          for i in range(0, len(x), BATCH)])
    except ValueError as e:
        raise DeepnetError(f"{method}: {e}") from None


def attack(run, method: str = "pgd", eps: float | None = None, *, seed: int = 0,
           limit: int | None = None, variant: str = "naive", bpda: bool = False,
           curve: bool | list[float] = False, examples=None, **options) -> AttackResult:
    """Attack the run's test split (at most `limit` examples: default robust.limit, else
    1000) and measure it; `examples` = (raw x, y) attacks those instead.

    `options` are those of `robust.attacks` in the spec: norm, steps, restarts, alpha,
    random_start, loss, targeted, target, c, kappa, lr, overshoot. eps is in raw input
    units (default 0.1 for fgsm and pgd; none, i.e. minimal perturbations, for cw and
    deepfool). `curve`: True or a list of eps values for the accuracy-vs-eps curve.

    >>> r = deepnet.attack(deepnet.load("runs/digits"), "pgd", eps=0.1)
    >>> r.robust_accuracy, r.to_dict()
    """
    check_attackable(run)
    a = _args(method, {**options, "eps": eps})
    if method not in A.MINIMAL and a.eps is None:
        a = a.model_copy(update={"eps": DEFAULT_EPS})
    norm = a.norm or A.DEFAULT_NORM[method]
    if method == "cw" and norm != "l2":
        raise DeepnetError(f"cw is an l2 attack; got --norm {norm} (use --norm l2, or pgd "
                           "with --norm linf)")
    net = network(run, bpda)
    bounds = valid_range(run)
    x, y = examples if examples is not None else test_examples(run, _limit(run, limit))
    g = torch.Generator().manual_seed(seed)
    goal = y
    if a.targeted:
        try:
            goal = A.pick_targets(net, x, y, a.target, len(run.classes), g)
        except ValueError as e:
            raise DeepnetError(f"--target: {e}") from None
    started = time.perf_counter()
    x_adv = _run_attack(net, method, a, a.eps, norm, x, goal, bounds, g)
    seconds = time.perf_counter() - started
    clean, adv = _predict(net, x), _predict(net, x_adv)
    result = _measure(method, variant, norm, a, x, x_adv, y, clean, adv, goal, seconds)
    if curve:
        values = curve if isinstance(curve, list) else a.curve or default_curve(method, a.eps,
                                                                                 result)
        result.curve = accuracy_curve(net, method, a, norm, x, y, goal, clean, x_adv, adv,
                                      values, bounds, seed)
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
    keys = set(OPTIONS[method]) | ({"target"} if a.targeted else set())
    options = a.model_dump(include=keys)
    return AttackResult(
        method=method, variant=variant, norm=norm, eps=a.eps, targeted=a.targeted,
        target=a.target if a.targeted else None, n=len(y),
        clean_accuracy=(clean == y).float().mean().item(),
        robust_accuracy=(adv == y).float().mean().item(), success_rate=success,
        mean_perturbation=d.mean().item() if len(d) else 0.0,
        max_perturbation=d.max().item() if len(d) else 0.0, seconds=round(seconds, 3),
        options=options, x=x, x_adv=x_adv, y=y, clean_pred=clean, adv_pred=adv, goal=goal)


def default_curve(method: str, eps: float | None, result: AttackResult) -> list[float]:
    if method in A.MINIMAL:
        top = eps if eps is not None else max(result.max_perturbation, 1e-6)
        return [round(top * f / 2, 6) for f in CURVE_FACTORS]
    return [round(eps * f, 6) for f in CURVE_FACTORS]


def accuracy_curve(net, method, a: AttackArgs, norm, x, y, goal, clean, x_adv, adv,
                   values: list[float], bounds, seed: int) -> list[tuple[float, float]]:
    """Robust accuracy at each eps. cw and deepfool give minimal perturbations: an example
    falls at every eps at or above its perturbation's norm; fgsm and pgd are rerun."""
    out = []
    if method in A.MINIMAL:
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
        xa = _run_attack(net, method, a, float(e), norm, x, goal, bounds, g)
        out.append((float(e), (_predict(net, xa) == y).float().mean().item()))
    return out


# ----------------------------------------------------------------------------- honest evaluation
def adaptive_attacks(run, method: str, eps: float | None, options: dict
                     ) -> list[tuple[str, str, float | None, dict, bool]]:
    """(variant, method, eps, options, bpda) of the attacks that break the run's
    gradient-obfuscating defenses, matched to a naive attack."""
    d = run.spec.robust.defense if run.spec.robust is not None else None
    out = []
    if d is None:
        return out
    norm = options.get("norm") or A.DEFAULT_NORM[method]
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
    return out


def evaluate_robustness(run, method: str = "pgd", eps: float | None = None, *,
                        seed: int = 0, limit: int | None = None, adaptive: bool = True,
                        curve: bool = True, **options) -> list[AttackResult]:
    """The naive attack and, when the run's defense obfuscates gradients, the adaptive
    ones beside it; all on the same examples."""
    check_attackable(run)
    examples = test_examples(run, _limit(run, limit))
    results = [attack(run, method, eps, seed=seed, curve=curve, examples=examples,
                      **options)]
    if adaptive:
        for variant, m, e, opts, bpda in adaptive_attacks(run, method, results[0].eps,
                                                          options):
            results.append(attack(run, m, e, seed=seed, variant=variant, bpda=bpda,
                                  examples=examples, curve=curve, **opts))
    return results


def evaluate_spec(run, quiet: bool = True) -> list[AttackResult]:
    """After training: the spec's `robust.attacks` (default: PGD-20 at the adversarial
    training eps, else 0.1) with their adaptive counterparts, saved in `robustness/`."""
    check_attackable(run)
    r = run.spec.robust
    items = list(r.attacks) if r.attacks else [_default_attack(r)]
    results = []
    for item in items:
        opts = item.args.model_dump(exclude_none=True)
        eps = opts.pop("eps", None)
        results += evaluate_robustness(run, item.method, eps, **opts)
    save(run, results)
    return results


def _default_attack(r) -> Attack:
    d = r.defense
    at = d.adversarial_training if d is not None else None
    eps = at.eps if at is not None else DEFAULT_EPS
    norm = at.norm if at is not None else "linf"
    return Attack(pgd={"eps": eps, "norm": norm, "steps": 20})


# ----------------------------------------------------------------------------- saving, report
def _key(d: dict) -> str:
    return json.dumps([d["method"], d["variant"], d["norm"], d["eps"], d["targeted"],
                       d["target"]])


def save(run, results: list[AttackResult]) -> Path:
    """Merge `results` into `robustness/results.json` (a rerun of the same attack replaces
    it) and draw the example grid and curves; the app then rewrites the run's report."""
    folder = Path(run.path) / FOLDER
    folder.mkdir(exist_ok=True)
    file = folder / "results.json"
    old = json.loads(file.read_text()).get("attacks", []) if file.is_file() else []
    new = [r.to_dict() for r in results]
    keys = {_key(d) for d in new}
    merged = [d for d in old if _key(d) not in keys] + new
    write_json_atomic(file, {"attacks": merged})
    from deepnet.robust.figures import curve_png, grid_png

    write_bytes_atomic(folder / "examples.png", grid_png(results[0], run.classes))
    write_bytes_atomic(folder / "curve.png", curve_png(merged))
    return file


def report_sections(run) -> list[dict]:
    """The report's robustness sections from `robustness/` ([] when never attacked): a
    table of every attack (naive and adaptive side by side), the accuracy-vs-eps curves
    and the grid of examples; report.html's robustness sections."""
    import base64

    folder = Path(run.path) / FOLDER
    file = folder / "results.json"
    if not file.is_file():
        return []
    rows = json.loads(file.read_text()).get("attacks", [])

    def fmt(v):
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    table = [("attack (variant)", "norm, eps", "clean acc", "robust acc", "success",
              "mean / max perturbation")]
    for d in rows:
        name = d["method"] + (f" targeted ({d['target']})" if d["targeted"] else "")
        table.append((f"{name} ({d['variant']})", f"{d['norm']}, {fmt(d['eps'])}",
                      fmt(d["clean_accuracy"]), fmt(d["robust_accuracy"]),
                      fmt(d["success_rate"]),
                      f"{fmt(d['mean_perturbation'])} / {fmt(d['max_perturbation'])}"))
    sections = [{"title": "Robustness: attacks", "header": True, "table": table,
                 "text": "Attacks on the test split in raw input units (eps), through the "
                         "saved preprocessing. Robust accuracy: the share still classified "
                         "correctly; success: of the examples the model got right (targeted: "
                         "all whose target differs from the label), the share the attack "
                         "fooled."}]
    notes, why = _honesty_notes(run, rows)
    if notes:
        sections.append({"title": "Robustness: naive and adaptive attacks", "text": why,
                         "table": notes})
    for name, title in (("curve.png", "Robustness: accuracy vs eps"),
                        ("examples.png", "Robustness: adversarial examples")):
        if (folder / name).is_file():
            data = base64.b64encode((folder / name).read_bytes()).decode()
            sections.append({"title": title, "image": "data:image/png;base64," + data})
    return sections


def _honesty_notes(run, rows: list[dict]) -> tuple[list[tuple[str, str]], str]:
    d = run.spec.robust.defense if run.spec.robust is not None else None
    if d is None or (d.distillation is None and d.input_transform is None):
        return [], ""
    out = []
    naive = [r for r in rows if r["variant"] == "naive"]
    adaptive = [r for r in rows if r["variant"] != "naive"]
    for r in naive:
        out.append((f"naive {r['method']} {r['norm']} eps {r['eps']}",
                    f"robust accuracy {r['robust_accuracy']:.4f}, success "
                    f"{r['success_rate']:.4f}"))
    for r in adaptive:
        eps = "unbounded (minimal perturbation)" if r["eps"] is None else f"eps {r['eps']}"
        out.append((f"adaptive: {r['variant']} ({r['norm']}, {eps})",
                    f"robust accuracy {r['robust_accuracy']:.4f}, success "
                    f"{r['success_rate']:.4f}, mean perturbation "
                    f"{r['mean_perturbation']:.4g}"))
    why = []
    if d.distillation is not None:
        why.append("defensive distillation saturates the softmax, so cross-entropy "
                   "gradients vanish; attacks on the logits are unaffected")
    if d.input_transform is not None:
        why.append("the input transformation has zero or sparse gradients; BPDA passes "
                   "them straight through")
    why = ("This run's defense obfuscates gradients: " + "; ".join(why) + ". The naive "
           "figures overstate its robustness; the adaptive ones are the ones to trust.")
    return out, why
