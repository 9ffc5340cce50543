"""Adversarial attacks as pure functions: `attack(model, x, y, eps, ...) -> x_adv`.

`model` takes raw inputs (a run's `network()`: its saved normalisation, then the model)
and returns logits (one output unit means a binary classifier). Every attack keeps each
example inside `bounds`, the data's valid raw range, and within `eps` of its original in
the attack's norm (eps in raw units; cw and deepfool minimise the perturbation and treat
`eps`, when given, as a cap). Targeted attacks take `y` as the target classes. Randomness
comes only from an explicit `generator`.

    x_adv = pgd(run.network(), x, y, eps=0.1, steps=20, bounds=(0.0, 1.0))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import model_validator

from deepnet.core.registry import Registry
from deepnet.core.schema import (
    NonNegative,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Section,
)

Bounds = tuple[float, float]
NORMS = ("linf", "l2")
TARGETS = ("next", "random", "least_likely")
LOSSES = ("ce", "margin", "dlr")


# ----------------------------------------------------------------------------- helpers
def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, classes) float logits; a one-unit binary output z becomes [0, z]."""
    out = model(x).float()
    out = out.reshape(len(out), -1)
    if out.shape[1] == 1:
        out = torch.cat([torch.zeros_like(out), out], dim=1)
    return out


def attack_loss(z: torch.Tensor, y: torch.Tensor, targeted: bool, loss: str = "ce"
                ) -> torch.Tensor:
    """Per-example loss that the attack increases: cross-entropy ("ce"), the logit margin
    of Carlini and Wagner ("margin"), which does not saturate with the softmax, or the
    difference of logits ratio of Croce and Hein ("dlr": the margin over the spread of the
    top logits, so rescaling the logits changes nothing; untargeted, 3+ classes); negated
    when targeted (the target's loss goes down)."""
    if loss == "ce":
        value = F.cross_entropy(z, y, reduction="none")
        return -value if targeted else value
    if loss == "margin":
        return -_margin(z, y, targeted)
    if loss == "dlr":
        if targeted or z.shape[1] < 3:
            raise ValueError("the dlr loss is untargeted and needs 3 or more classes; got "
                             + ("a targeted attack" if targeted else f"{z.shape[1]} classes")
                             + ": use loss ce")
        top = z.sort(dim=1).values
        other = torch.where(z.argmax(1) == y, top[:, -2], top[:, -1])
        return (other - z.gather(1, y[:, None])[:, 0]) / (top[:, -1] - top[:, -3] + 1e-12)
    raise ValueError(f"unknown attack loss {loss!r}; valid: {', '.join(LOSSES)}")


def _value_grad(model, x_adv: torch.Tensor, y: torch.Tensor, targeted: bool,
                loss: str = "ce") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-example attack loss, the gradient of its sum with respect to the inputs,
    whether each example reached the attack's goal) at x_adv."""
    x_adv = x_adv.detach().requires_grad_(True)
    z = logits(model, x_adv)
    value = attack_loss(z, y, targeted, loss)
    (grad,) = torch.autograd.grad(value.sum(), x_adv)
    reached = z.argmax(1) == y if targeted else z.argmax(1) != y
    return value.detach(), grad.detach(), reached


def _loss_grad(model, x_adv: torch.Tensor, y: torch.Tensor, targeted: bool,
               loss: str = "ce") -> torch.Tensor:
    """The gradient of the summed per-example attack loss with respect to the inputs."""
    return _value_grad(model, x_adv, y, targeted, loss)[1]


def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example perturbation norms (linf or l2) of a batch."""
    flat = delta.reshape(len(delta), -1).float()
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float | None, norm: str,
            bounds: Bounds) -> torch.Tensor:
    """x_adv moved into the eps-ball around x (in `norm`), then into `bounds`. Clamping
    after the ball only shrinks each coordinate of the perturbation, so both hold."""
    delta = x_adv - x
    if eps is not None:
        if norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:
            n = norms(delta, "l2")
            factor = torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))
            delta = delta * _per_example(factor, delta)
    return (x + delta).clamp(bounds[0], bounds[1]).detach()


def _random_start(x: torch.Tensor, eps: float, norm: str,
                  generator: torch.Generator | None) -> torch.Tensor:
    """A uniform draw from the eps-ball (linf: the cube; l2: the ball)."""
    dev = generator.device if generator is not None else x.device
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=dev)
        return ((u * 2 - 1) * eps).to(x.device, x.dtype)
    d = x[0].numel()
    g = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    r = torch.rand(len(x), generator=generator, device=dev).to(x.device, x.dtype) ** (1 / d)
    return g / _per_example(norms(g, "l2").clamp_min(1e-12), g) * _per_example(r * eps, g)


def _step_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _per_example(norms(grad, "l2").clamp_min(1e-12), grad)


def _check(eps: float | None, norm: str, bounds: Bounds) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    if eps is not None and not eps >= 0:
        raise ValueError(f"eps must be >= 0 (raw input units); got {eps}")
    if not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with low < high; got {bounds}")


# ----------------------------------------------------------------------------- attacks
@torch.enable_grad()
def fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         norm: str = "linf", targeted: bool = False, bounds: Bounds = (0.0, 1.0),
         random_start: bool = False, alpha: float | None = None, loss: str = "ce",
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Fast gradient sign method: one step of size eps along the sign of the loss gradient
    (l2: along the normalised gradient). With `random_start` it is "fast FGSM" (Wong et
    al., 2020): a uniform start in the ball, then a step of `alpha` (default 1.25 eps)."""
    _check(eps, norm, bounds)
    x = x.detach()
    start = x
    if random_start:
        start = project(x + _random_start(x, eps, norm, generator), x, eps, norm, bounds)
        alpha = 1.25 * eps if alpha is None else alpha
    else:
        alpha = eps if alpha is None else alpha
    grad = _loss_grad(model, start, y, targeted, loss)
    return project(start + alpha * _step_direction(grad, norm), x, eps, norm, bounds)


@torch.enable_grad()
def pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
        norm: str = "linf", steps: int = 20, alpha: float | None = None,
        random_start: bool = True, restarts: int = 1, targeted: bool = False,
        bounds: Bounds = (0.0, 1.0), loss: str = "ce",
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al., 2018) in linf or l2: `steps` steps of
    `alpha` (default 2.5 eps / steps), each projected back into the eps-ball and the
    bounds. With `restarts` > 1 (and a random start) the strongest result per example is
    kept: a successful one first, then the highest loss."""
    _check(eps, norm, bounds)
    x = x.detach()
    alpha = 2.5 * eps / steps if alpha is None else alpha
    best, best_ok, best_loss = x, None, None
    for _ in range(restarts if random_start else 1):
        x_adv = x
        if random_start:
            x_adv = project(x + _random_start(x, eps, norm, generator), x, eps, norm, bounds)
        for _ in range(steps):
            grad = _loss_grad(model, x_adv, y, targeted, loss)
            x_adv = project(x_adv + alpha * _step_direction(grad, norm), x, eps, norm, bounds)
        if restarts == 1 or not random_start:
            return x_adv
        with torch.no_grad():
            out = logits(model, x_adv)
            value = attack_loss(out, y, targeted, loss)
            ok = out.argmax(1) == y if targeted else out.argmax(1) != y
        if best_ok is None:
            best, best_ok, best_loss = x_adv, ok, value
            continue
        better = (ok & ~best_ok) | ((ok == best_ok) & (value > best_loss))
        best = torch.where(_per_example(better, x_adv), x_adv, best)
        best_ok, best_loss = best_ok | ok, torch.where(better, value, best_loss)
    return best


def _apgd_start(x: torch.Tensor, eps: float, norm: str,
                generator: torch.Generator | None) -> torch.Tensor:
    """APGD's start: a random direction scaled to the edge of the eps-ball (linf: its
    largest coordinate at eps; l2: its norm eps), as in Croce and Hein's code."""
    dev = generator.device if generator is not None else x.device
    if norm == "linf":
        t = (torch.rand(x.shape, generator=generator, device=dev) * 2 - 1).to(x.device, x.dtype)
    else:
        t = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    return eps * t / _per_example(norms(t, norm).clamp_min(1e-12), t)


def _apgd_run(model, x, y, eps, norm, steps, loss, targeted, bounds, generator, rho=0.75
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run: (per example the first point that reached the goal, else the point of
    highest loss; whether the goal was reached)."""
    check, check_min, check_decrease = (max(int(f * steps), 1) for f in (0.22, 0.06, 0.03))
    adv = project(x + _apgd_start(x, eps, norm, generator), x, eps, norm, bounds)
    value, grad, reached = _value_grad(model, adv, y, targeted, loss)
    best, best_grad, best_value = adv, grad, value
    found, done = adv, reached
    eta = torch.full((len(x),), 2.0 * eps, device=x.device)  # step size per example
    prev, values, since = adv, [value], 0
    last_best, halved = best_value, torch.ones_like(reached)
    for i in range(steps):
        a = 0.75 if i > 0 else 1.0  # momentum, from the second step
        z = project(adv + _per_example(eta, x) * _step_direction(grad, norm), x, eps, norm,
                    bounds)
        prev, adv = adv, project(adv + a * (z - adv) + (1 - a) * (adv - prev), x, eps, norm,
                                 bounds)
        value, grad, reached = _value_grad(model, adv, y, targeted, loss)
        found = torch.where(_per_example(reached & ~done, x), adv, found)
        done = done | reached
        up = value > best_value
        best = torch.where(_per_example(up, x), adv, best)
        best_grad = torch.where(_per_example(up, x), grad, best_grad)
        best_value = torch.where(up, value, best_value)
        values.append(value)
        since += 1
        if since == check:  # a checkpoint: halve the step where progress stalled
            recent = torch.stack(values[-check - 1:])
            rises = (recent[1:] > recent[:-1]).sum(0)
            halve = (rises <= check * rho) | (~halved & (last_best >= best_value))
            halved, last_best = halve, best_value
            eta = torch.where(halve, eta / 2, eta)
            adv = torch.where(_per_example(halve, x), best, adv)  # and restart from the best
            grad = torch.where(_per_example(halve, x), best_grad, grad)
            since, check = 0, max(check - check_decrease, check_min)
    return torch.where(_per_example(done, x), found, best), done


@torch.enable_grad()
def apgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         norm: str = "linf", steps: int = 100, restarts: int = 1, loss: str = "ce",
         targeted: bool = False, bounds: Bounds = (0.0, 1.0),
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Auto-PGD (Croce and Hein, 2020), the gradient attack of AutoAttack: PGD with
    momentum whose step size starts at 2 eps and is halved at checkpoints (after 22% of
    the steps, then ever shorter stretches) wherever the loss stopped rising, restarting
    from the best point; no step size to tune. `loss`: ce (APGD-CE) or dlr (APGD-DLR,
    untargeted). Each restart attacks the examples not yet fooled; an example keeps the
    first point that reached the goal, else its highest-loss point."""
    _check(eps, norm, bounds)
    x = x.detach()
    out, done = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for r in range(restarts):
        todo = (~done).nonzero()[:, 0]
        if len(todo) == 0:
            break
        adv, reached = _apgd_run(model, x[todo], y[todo], eps, norm, steps, loss, targeted,
                                 bounds, generator)
        update = todo if r == 0 else todo[reached]  # a later restart keeps only successes
        out[update] = adv if r == 0 else adv[reached]
        done[todo] = reached
    return out


def _margin(z: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """How far each example is from the attack's goal in logits (<= 0: reached)."""
    own = z.gather(1, y[:, None])[:, 0]
    other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
    return other - own if targeted else own - other


@torch.enable_grad()
def cw(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float | None = None,
       *, norm: str = "l2", c: float = 1.0, kappa: float = 0.0, steps: int = 100,
       lr: float = 0.1, search_steps: int = 3, targeted: bool = False,
       bounds: Bounds = (0.0, 1.0), generator: torch.Generator | None = None) -> torch.Tensor:
    """Carlini-Wagner L2 (2017): minimise ||delta||^2 + c * max(margin, -kappa) on the
    logits, in tanh space (so the bounds hold), with Adam (stopping early when the loss
    stalls); a binary search over c per example (`search_steps`). Returns the smallest
    successful example found, or the original where none succeeds. `eps`, when given,
    caps the perturbation."""
    if norm != "l2":
        raise ValueError(f"cw is an l2 attack; got norm {norm!r} (use norm='l2')")
    _check(eps, norm, bounds)
    x = x.detach()
    lo, hi = bounds
    n = len(x)
    w0 = torch.atanh(((x - lo) / (hi - lo) * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    c_now = torch.full((n,), float(c), device=x.device)
    c_lo = torch.zeros(n, device=x.device)
    c_hi = torch.full((n,), float("inf"), device=x.device)
    best = x.clone()
    best_norm = torch.full((n,), float("inf"), device=x.device)
    closest = x.clone()  # the smallest success regardless of eps, for the cap
    closest_norm = torch.full((n,), float("inf"), device=x.device)
    for _ in range(search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        previous = float("inf")
        for step in range(steps):
            x_adv = lo + (hi - lo) * (torch.tanh(w) + 1) / 2
            z = logits(model, x_adv)
            margin = _margin(z, y, targeted)
            dist = ((x_adv - x) ** 2).reshape(n, -1).sum(1)
            loss = (dist + c_now * (margin + kappa).clamp_min(0)).sum()
            (w.grad,) = torch.autograd.grad(loss, w)  # not into the model's parameters
            opt.step()
            if step % max(steps // 10, 1) == 0:  # abort early when the loss stalls
                if loss.item() > previous * 0.9999:
                    break
                previous = loss.item()
            with torch.no_grad():
                ok = margin <= -kappa if kappa > 0 else margin < 0
                l2 = dist.sqrt()
                found |= ok
                closer = ok & (l2 < closest_norm)
                closest_norm = torch.where(closer, l2, closest_norm)
                closest = torch.where(_per_example(closer, x), x_adv.detach(), closest)
                within = closer if eps is None else ok & (l2 <= eps) & (l2 < best_norm)
                best_norm = torch.where(within, l2, best_norm)
                best = torch.where(_per_example(within, x), x_adv.detach(), best)
        c_hi = torch.where(found, torch.minimum(c_hi, c_now), c_hi)
        c_lo = torch.where(found, c_lo, torch.maximum(c_lo, c_now))
        c_now = torch.where(torch.isinf(c_hi), c_now * 10, (c_lo + c_hi) / 2)
    if eps is not None:  # no success within eps: the closest success, scaled down to eps
        missing = torch.isinf(best_norm) & ~torch.isinf(closest_norm)
        capped = project(closest, x, eps, "l2", bounds)
        best = torch.where(_per_example(missing, x), capped, best)
    return project(best, x, eps, "l2", bounds)


@torch.enable_grad()
def deepfool(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             eps: float | None = None, *, norm: str = "l2", steps: int = 50,
             overshoot: float = 0.02, targeted: bool = False, bounds: Bounds = (0.0, 1.0),
             generator: torch.Generator | None = None) -> torch.Tensor:
    """DeepFool (Moosavi-Dezfooli et al., 2016): repeatedly step to the nearest linearised
    decision boundary (l2, or linf with the dual l1 norm) until the class changes (or,
    targeted, becomes y); the total step is scaled by 1 + overshoot. Examples already
    misclassified (or already the target) are left as they are. `eps`, when given,
    scales each final perturbation down to it."""
    _check(eps, norm, bounds)
    x = x.detach()
    r_tot = torch.zeros_like(x)
    x_adv = x.clone()
    idx = torch.arange(len(x), device=x.device)  # the examples still on their way
    for _ in range(steps):
        xa = x_adv[idx].requires_grad_(True)
        z = logits(model, xa)
        pred = z.argmax(1)
        goal = y[idx]
        active = pred != goal if targeted else pred == goal
        if not active.any():
            break
        k = z.shape[1]
        grads = torch.stack([torch.autograd.grad(z[:, j].sum(), xa, retain_graph=j < k - 1)[0]
                             for j in range(k)], dim=1)[active]  # (M, K, ...)
        z, pred, goal, idx = z.detach()[active], pred[active], goal[active], idx[active]
        m = len(idx)
        rows = torch.arange(m, device=x.device)
        src = pred if targeted else goal  # targeted: from the current class to the target
        w = (grads - grads[rows, src][:, None]).reshape(m, k, -1)  # (M, K, D)
        f = (z - z.gather(1, src[:, None])).abs()  # (M, K)
        if targeted:
            choice = goal
        else:
            wn = w.abs().sum(2) if norm == "linf" else w.norm(dim=2)
            ratio = (f / wn.clamp_min(1e-12)).masked_fill(F.one_hot(src, k).bool(),
                                                          float("inf"))
            choice = ratio.argmin(1)
        wk, fk = w[rows, choice], f[rows, choice]  # (M, D), (M,)
        if norm == "linf":
            step = ((fk + 1e-4) / wk.abs().sum(1).clamp_min(1e-12))[:, None] * wk.sign()
        else:
            step = ((fk + 1e-4) / (wk.norm(dim=1) ** 2).clamp_min(1e-12))[:, None] * wk
        r_tot[idx] += step.reshape(m, *x.shape[1:])
        x_adv[idx] = project(x[idx] + (1 + overshoot) * r_tot[idx], x[idx], None, norm,
                             bounds)
    return project(x_adv, x, eps, norm, bounds)  # the cap, after the minimal search


# ----------------------------------------------------------------------------- arguments
class AttackArgs(Section):
    """What every attack takes (`- pgd: {eps: 0.1, steps: 20}`; eps in raw input units).
    cw and deepfool find a minimal perturbation: eps, when given, caps it. A subclass per
    attack adds the keyword arguments of its function, which are its `options`."""

    main: ClassVar[str] = "eps"
    eps: NonNegative | None = None  # default 0.1 for fgsm and pgd, none for cw and deepfool
    norm: Literal[NORMS] | None = None  # default: the attack's (ATTACKS[name].norm)
    targeted: bool = False
    # a class number, next ((y + 1) mod classes), random, least_likely (pick_targets)
    target: NonNegativeInt | Literal[TARGETS] = "next"
    curve: list[NonNegative] | None = None  # eps values of the accuracy-vs-eps curve

    @classmethod
    def own(cls) -> tuple[str, ...]:
        """The options of this attack: the keyword arguments of its function."""
        return tuple(k for k in cls.model_fields if k not in AttackArgs.model_fields)

    def keywords(self) -> dict[str, Any]:
        """The attack function's own keyword arguments (run_as first: steps filled in)."""
        return {k: getattr(self, k) for k in self.own()}

    def run_as(self, steps: int | None) -> AttackArgs:
        """These arguments with the default number of steps filled in (`steps`, the
        attack's), so that a result records the budget that was actually run."""
        if "steps" in self.own() and self.steps is None:
            return self.model_copy(update={"steps": steps})
        return self

    def options(self) -> dict[str, Any]:
        """The options, for the results (run_as: with the steps that were run)."""
        return {k: getattr(self, k) for k in self.own()} | {"targeted": self.targeted} | (
            {"target": self.target} if self.targeted else {})


class FgsmArgs(AttackArgs):
    alpha: PositiveFloat | None = None  # step size (default eps)
    loss: Literal[LOSSES] = "ce"  # cross-entropy or the logit margin (CW)


class PgdArgs(AttackArgs):
    steps: PositiveInt | None = None  # default ATTACKS["pgd"].steps
    restarts: PositiveInt = 1  # random restarts, the strongest kept per example
    alpha: PositiveFloat | None = None  # step size (default 2.5 eps / steps)
    random_start: bool = True
    loss: Literal[LOSSES] = "ce"


class ApgdArgs(AttackArgs):
    steps: PositiveInt | None = None  # default ATTACKS["apgd"].steps
    restarts: PositiveInt = 1  # each on the examples not fooled yet
    loss: Literal["ce", "dlr"] = "ce"  # APGD-CE or APGD-DLR (untargeted)


class CwArgs(AttackArgs):
    steps: PositiveInt | None = None
    c: PositiveFloat = 1.0  # weight of the classification term
    kappa: NonNegative = 0.0  # confidence margin
    lr: PositiveFloat = 0.1  # Adam step size (in tanh space)

    @model_validator(mode="after")
    def _l2(self) -> CwArgs:
        if self.norm not in (None, "l2"):
            raise ValueError(f"cw is an l2 attack; got norm {self.norm!r} (use norm l2, or "
                             "pgd with norm linf)")
        return self


class DeepfoolArgs(AttackArgs):
    steps: PositiveInt | None = None
    overshoot: NonNegative = 0.02


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class AttackType:
    run: Callable[..., torch.Tensor]  # (model, x, y, eps, norm=..., **options) -> x_adv
    args: type[AttackArgs]  # its settings in the spec and in `deepnet.attack`
    norm: str  # the default norm
    steps: int | None = None  # the default number of iterations
    minimal: bool = False  # finds the smallest perturbation; eps only caps it
    trains: bool = False  # makes the examples of adversarial training (a random start)


ATTACKS: Registry[AttackType] = Registry("attack", {
    "fgsm": AttackType(fgsm, FgsmArgs, "linf", trains=True),
    "pgd": AttackType(pgd, PgdArgs, "linf", steps=20, trains=True),
    "apgd": AttackType(apgd, ApgdArgs, "linf", steps=100),
    "cw": AttackType(cw, CwArgs, "l2", steps=100, minimal=True),
    "deepfool": AttackType(deepfool, DeepfoolArgs, "l2", steps=50, minimal=True),
})

# The attacks that `robust.defense.adversarial_training.method` may name.
TRAINING_ATTACKS: Registry[AttackType] = Registry(
    "adversarial training attack", {name: a for name, a in ATTACKS.items() if a.trains})


def get(name: str) -> Callable[..., torch.Tensor]:
    """The attack function of that name; ValueError listing the valid names."""
    return ATTACKS.get(name).run


def pick_targets(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: int | str, n_classes: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Target classes: a class number for every example, `next` ((y + 1) mod classes),
    `random` (a class other than y) or `least_likely` (the model's lowest logit)."""
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < n_classes:
            raise ValueError(f"target class {target} is out of range; the model has "
                             f"{n_classes} classes (0..{n_classes - 1})")
        return torch.full_like(y, target)
    if target == "next":
        return (y + 1) % n_classes
    if target == "random":
        dev = generator.device if generator is not None else y.device
        shift = torch.randint(1, n_classes, y.shape, generator=generator, device=dev)
        return (y + shift.to(y.device)) % n_classes
    if target == "least_likely":
        with torch.no_grad():
            return logits(model, x).argmin(1)
    raise ValueError(f"unknown target {target!r}; valid: a class number, "
                     f"{', '.join(TARGETS)}")
