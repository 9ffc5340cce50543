"""AutoAttack (Croce and Hein, 2020) and its parts: APGD-CE and APGD-DLR, targeted APGD
(APGD-T), targeted FAB (FAB-T) and the Square attack, run one after another, each on the
examples that are still classified correctly. No step size to tune; the same generator
gives the same examples.

    x_adv = autoattack(run.network(), x, y, eps=0.1, bounds=(0.0, 1.0))
"""

from __future__ import annotations

import math

import torch

from deepnet.attacks.core import (
    Bounds,
    Objective,
    check_args,
    logit_margin,
    logits,
    norms,
    objective,
    per_example,
    project,
    step_direction,
    value_grad,
)


def _predict(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return logits(model, x).argmax(1)


def _check_untargeted(name: str, targeted: bool, eps: float, norm: str, bounds: Bounds
                      ) -> None:
    """check_args, and a ValueError for `targeted`: AutoAttack and its parts look for any
    misclassification."""
    check_args(eps, norm, bounds)
    if targeted:
        raise ValueError(f"{name} looks for any misclassification and is not targeted; for "
                         "a targeted attack use pgd or apgd with targeted")


# ----------------------------------------------------------------------------- APGD
def _apgd_start(x: torch.Tensor, eps: float, norm: str,
                generator: torch.Generator | None) -> torch.Tensor:
    """APGD's start: a random direction scaled to the edge of the eps-ball (linf: its
    largest coordinate at eps; l2: its norm eps), as in Croce and Hein's code."""
    dev = generator.device if generator is not None else x.device
    if norm == "linf":
        t = (torch.rand(x.shape, generator=generator, device=dev) * 2 - 1).to(x.device, x.dtype)
    else:
        t = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    return eps * t / per_example(norms(t, norm).clamp_min(1e-12), t)


def _apgd_run(model, x, goal: Objective, eps, norm, steps, bounds, generator, rho=0.75
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run: (per example the first point that reached the goal, else the point of
    highest objective; whether the goal was reached)."""
    check, check_min, check_decrease = (max(int(f * steps), 1) for f in (0.22, 0.06, 0.03))
    adv = project(x + _apgd_start(x, eps, norm, generator), x, eps, norm, bounds)
    value, grad, reached = value_grad(model, adv, goal)
    best, best_grad, best_value = adv, grad, value
    found, done = adv, reached
    eta = torch.full((len(x),), 2.0 * eps, device=x.device)  # step size per example
    prev, values, since = adv, [value], 0
    last_best, halved = best_value, torch.ones_like(reached)
    for i in range(steps):
        a = 0.75 if i > 0 else 1.0  # momentum, from the second step
        z = project(adv + per_example(eta, x) * step_direction(grad, norm), x, eps, norm,
                    bounds)
        prev, adv = adv, project(adv + a * (z - adv) + (1 - a) * (adv - prev), x, eps, norm,
                                 bounds)
        value, grad, reached = value_grad(model, adv, goal)
        found = torch.where(per_example(reached & ~done, x), adv, found)
        done = done | reached
        up = value > best_value
        best = torch.where(per_example(up, x), adv, best)
        best_grad = torch.where(per_example(up, x), grad, best_grad)
        best_value = torch.where(up, value, best_value)
        values.append(value)
        since += 1
        if since == check:  # a checkpoint: halve the step where progress stalled
            recent = torch.stack(values[-check - 1:])
            rises = (recent[1:] > recent[:-1]).sum(0)
            halve = (rises <= check * rho) | (~halved & (last_best >= best_value))
            halved, last_best = halve, best_value
            eta = torch.where(halve, eta / 2, eta)
            adv = torch.where(per_example(halve, x), best, adv)  # and restart from the best
            grad = torch.where(per_example(halve, x), best_grad, grad)
            since, check = 0, max(check - check_decrease, check_min)
    return torch.where(per_example(done, x), found, best), done


def _restarted(run, x: torch.Tensor, y: torch.Tensor, restarts: int,
               out: torch.Tensor | None = None, done: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """`run(indices, restart) -> (x_adv, reached)` repeated `restarts` times, each time on
    the examples that have not reached the goal; the first run's points are kept where no
    later one succeeds. Returns (examples, reached)."""
    first = out is None
    out = x.clone() if out is None else out
    done = torch.zeros(len(x), dtype=torch.bool, device=x.device) if done is None else done
    for r in range(restarts):
        todo = (~done).nonzero()[:, 0]
        if len(todo) == 0:
            break
        adv, reached = run(todo, r)
        keep = todo if first else todo[reached]  # later runs keep only their successes
        out[keep] = adv if first else adv[reached]
        done[todo] = reached
        first = False
    return out, done


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
    check_args(eps, norm, bounds)
    x = x.detach()

    def run(todo, restart):
        return _apgd_run(model, x[todo], objective(y[todo], targeted, loss), eps, norm,
                         steps, bounds, generator)

    return _restarted(run, x, y, restarts)[0]


def targeted_dlr(z: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The targeted DLR loss of APGD-T: the target's logit over the label's, in units of
    the spread between the top logit and the mean of the third and fourth (4+ classes)."""
    if z.shape[1] < 4:
        raise ValueError(f"the targeted dlr loss needs 4 or more classes; got {z.shape[1]}: "
                         "use apgd with loss ce")
    top = z.sort(dim=1).values
    gap = z.gather(1, target[:, None])[:, 0] - z.gather(1, y[:, None])[:, 0]
    return gap / (top[:, -1] - 0.5 * (top[:, -3] + top[:, -4]) + 1e-12)


def runner_up_classes(model, x: torch.Tensor, count: int) -> torch.Tensor:
    """(N, count) classes by the model's logits on x, highest first, after the top one:
    the targets of APGD-T and FAB-T (count at most classes - 1)."""
    with torch.no_grad():
        z = logits(model, x)
    return z.argsort(1, descending=True)[:, 1:1 + min(count, z.shape[1] - 1)]


@torch.enable_grad()
def apgd_t(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
           norm: str = "linf", steps: int = 100, targets: int = 9, restarts: int = 1,
           targeted: bool = False, bounds: Bounds = (0.0, 1.0),
           generator: torch.Generator | None = None) -> torch.Tensor:
    """APGD-T: APGD on the targeted DLR loss towards each of the `targets` classes the
    model ranks highest after its top one (AutoAttack: 9), in turn, on the examples not
    yet misclassified; any misclassification counts. 4 or more classes."""
    _check_untargeted("apgd-t", targeted, eps, norm, bounds)
    if len(x) == 0:
        return x.clone()
    x = x.detach()

    def run(todo, target, restart):
        yt = y[todo]

        def goal(z):
            return targeted_dlr(z, yt, target), z.argmax(1) != yt
        return _apgd_run(model, x[todo], goal, eps, norm, steps, bounds, generator)

    return _towards_runner_ups(model, x, y, targets, restarts, run)


def _towards_runner_ups(model, x: torch.Tensor, y: torch.Tensor, targets: int,
                        restarts: int, run) -> torch.Tensor:
    """`run(indices, target classes, restart) -> (x_adv, reached)` towards each of the
    `targets` runner-up classes in turn, `restarts` times each, on the examples not yet
    fooled (APGD-T and FAB-T)."""
    ranked = runner_up_classes(model, x, targets)
    out, done = None, None
    for k in range(ranked.shape[1]):
        out, done = _restarted(lambda todo, r, k=k: run(todo, ranked[todo, k], r), x, y,
                               restarts, out, done)
    return x.clone() if out is None else out


# ----------------------------------------------------------------------------- FAB
def to_hyperplane(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor, norm: str,
                  bounds: Bounds) -> torch.Tensor:
    """Per row of t (N, D): the smallest step d (in linf or l2) with w.(t + d) = b and t + d
    inside `bounds`; where the box cannot reach the hyperplane, the step to the corner
    nearest it. Every coordinate moves against w by min(lam * u, its room to the bound)
    (u = 1 for linf, |w| for l2), and lam is found exactly over the sorted breakpoints."""
    lo, hi = bounds
    gap = (w * t).sum(1) - b
    w = w * torch.where(gap >= 0, 1.0, -1.0)[:, None]  # now w.(t + d) must fall by |gap|
    need = gap.abs()
    u = (w != 0).to(w.dtype) if norm == "linf" else w.abs()
    room = torch.where(w > 0, t - lo, hi - t)  # how far each coordinate can move
    rate = w.abs() * u  # the fall per unit of lam while a coordinate can still move
    brk = torch.where(rate > 0, room / u.clamp_min(1e-30), torch.zeros_like(room))
    order = brk.argsort(1)
    brk, rate, full = brk.gather(1, order), rate.gather(1, order), (w.abs() * room).gather(1, order)
    rest = rate.flip(1).cumsum(1).flip(1)  # the rate of the coordinates from j on
    fallen = full.cumsum(1) - full  # the fall of those saturated before j
    reach = fallen + brk * rest  # the fall at each breakpoint
    j = (reach < need[:, None]).sum(1, keepdim=True).clamp_max(t.shape[1] - 1)
    lam = (need - fallen.gather(1, j)[:, 0]) / rest.gather(1, j)[:, 0].clamp_min(1e-30)
    lam = torch.where(reach[:, -1] < need, brk[:, -1], lam)  # out of reach: the corner
    return -w.sign() * torch.minimum(lam[:, None] * u, room)


def _fab_run(model, x, y, target, eps, norm, steps, alpha_max, eta, beta, bounds,
             generator, random_start: bool = False) -> torch.Tensor:
    """One FAB-T run towards `target`: per example the smallest misclassified point found
    (x itself where none was)."""
    flat = x.reshape(len(x), -1)
    best, best_norm = x.clone(), torch.full((len(x),), float("inf"), device=x.device)
    x1 = x.clone()
    if random_start:  # a restart: a random start at half of eps
        x1 = project(x + 0.5 * _apgd_start(x, eps, norm, generator), x, eps, norm, bounds)

    def goal(z):  # the linearised boundary between the label and the target: f = 0
        own, tgt = z.gather(1, y[:, None])[:, 0], z.gather(1, target[:, None])[:, 0]
        return tgt - own, z.argmax(1) != y

    for _ in range(steps):
        f, g, _ = value_grad(model, x1, goal)
        w = g.reshape(len(x), -1)
        b = (w * x1.reshape(len(x), -1)).sum(1) - f
        d = to_hyperplane(torch.cat([x1.reshape(len(x), -1), flat]), torch.cat([w, w]),
                          torch.cat([b, b]), norm, bounds)
        d1, d2 = d[:len(x)], d[len(x):]  # from the current point and from the original
        a = norms(d, norm).clamp_min(1e-8)
        alpha = (a[:len(x)] / (a[:len(x)] + a[len(x):])).clamp(0, alpha_max)[:, None]
        x1 = ((x1.reshape(len(x), -1) + eta * d1) * (1 - alpha) + (flat + eta * d2) * alpha
              ).clamp(*bounds).reshape(x.shape)
        fooled = _predict(model, x1) != y
        dist = norms(x1 - x, norm)
        closer = fooled & (dist < best_norm)
        best = torch.where(per_example(closer, x), x1, best)
        best_norm = torch.where(closer, dist, best_norm)
        x1 = torch.where(per_example(fooled, x), x + beta * (x1 - x), x1)  # back towards x
    return best


@torch.enable_grad()
def fab(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
        norm: str = "linf", steps: int = 100, targets: int = 9, restarts: int = 1,
        alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9, targeted: bool = False,
        bounds: Bounds = (0.0, 1.0), generator: torch.Generator | None = None
        ) -> torch.Tensor:
    """FAB-T (Croce and Hein, 2020), the minimal-perturbation attack of AutoAttack: towards
    each of the `targets` classes ranked highest after the top one, in turn, step to the
    projection onto the linearised boundary (mixed with the projection of the original by
    at most `alpha_max`, extrapolated by `eta`), and after each success move back towards
    the original by `beta`. An example counts as fooled only within `eps`; restarts after
    the first start at random."""
    _check_untargeted("fab", targeted, eps, norm, bounds)
    if len(x) == 0:
        return x.clone()
    x = x.detach()

    def run(todo, target, restart):
        xs, ys = x[todo], y[todo]
        adv = _fab_run(model, xs, ys, target, eps, norm, steps, alpha_max, eta, beta, bounds,
                       generator, random_start=restart > 0)
        adv = project(adv, xs, eps, norm, bounds)  # a success beyond eps does not count
        return adv, _predict(model, adv) != ys

    return _towards_runner_ups(model, x, y, targets, restarts, run)


# ----------------------------------------------------------------------------- Square
def _square_share(i: int, queries: int, p_init: float) -> float:
    """The share of the input changed at query i: p_init at first, halved at fixed points
    of a 10000-query schedule stretched to `queries` (Andriushchenko et al., 2020)."""
    it = int(i / queries * 10000)
    return p_init / 2 ** sum(it > s for s in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))


@torch.no_grad()
def square(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
           norm: str = "linf", queries: int = 5000, p_init: float = 0.8,
           targeted: bool = False, bounds: Bounds = (0.0, 1.0),
           generator: torch.Generator | None = None) -> torch.Tensor:
    """The Square attack (Andriushchenko et al., 2020), the score-based attack of
    AutoAttack: no gradients, so gradient masking does not hide from it. From vertical
    stripes of +-eps, each query sets a random square of each example to +-eps per channel
    and keeps it where the logit margin falls; squares shrink on a fixed schedule. Inputs
    of shape (C, H, W) are images; (H, W) one channel; flat inputs one row, where a
    "square" is a stretch of the row. linf only."""
    _check_untargeted("square", targeted, eps, norm, bounds)
    if len(x) == 0:
        return x.clone()
    if norm != "linf":
        raise ValueError(f"square is implemented for linf; got norm {norm!r}: use apgd")
    x = x.detach()
    shape = x.shape
    img = x.reshape(len(x), *{4: shape[1:], 3: (1, *shape[1:])}.get(x.dim(), (1, 1, -1)))
    c, h, w = img.shape[1:]
    dev = generator.device if generator is not None else x.device

    def draw(*size, high=None):
        if high is None:
            signs = torch.randint(0, 2, size, generator=generator, device=dev) * 2 - 1
            return signs.to(x.device, x.dtype)
        return torch.randint(0, high, size, generator=generator, device=dev).to(x.device)

    def margin(v, idx):
        return logit_margin(logits(model, v.reshape(len(idx), *shape[1:])), y[idx], False)

    everyone = torch.arange(len(x), device=x.device)
    best = project(img + eps * draw(len(x), c, 1, w), img, eps, norm, bounds)
    best_margin = margin(best, everyone)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    for i in range(queries):
        todo = (best_margin > 0).nonzero()[:, 0]
        if len(todo) == 0:
            break
        p = _square_share(i, queries, p_init)
        if h == 1:  # a row: a stretch of p of its values
            sh, sw = 1, max(int(round(p * w)), 1)
        else:  # a square of p of the pixels
            s = max(int(round(math.sqrt(p * h * w))), 1)
            sh, sw = min(s, h), min(s, w)
        top, left = draw(len(todo), high=h - sh + 1), draw(len(todo), high=w - sw + 1)
        inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + sh)
                  & (cols >= left[:, None, None]) & (cols < left[:, None, None] + sw))
        step = 2 * eps * draw(len(todo), c, 1, 1) * inside[:, None].to(x.dtype)
        new = project(best[todo] + step, img[todo], eps, norm, bounds)
        m = margin(new, todo)
        better = m < best_margin[todo]
        best[todo[better]] = new[better]
        best_margin[todo[better]] = m[better]
    return best.reshape(shape)


# ----------------------------------------------------------------------------- AutoAttack
def autoattack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
               norm: str = "linf", steps: int = 100, targets: int = 9, queries: int = 5000,
               targeted: bool = False, bounds: Bounds = (0.0, 1.0),
               generator: torch.Generator | None = None) -> torch.Tensor:
    """AutoAttack's standard version (Croce and Hein, 2020): APGD-CE, then APGD-T and FAB-T
    towards the `targets` runner-up classes, then Square with `queries` queries (linf),
    each on the examples still classified correctly. The parts that do not apply are left
    out: APGD-T below 4 classes, Square for l2. An example keeps the first successful
    point, else APGD-CE's."""
    _check_untargeted("autoattack", targeted, eps, norm, bounds)
    if len(x) == 0:
        return x.clone()
    x = x.detach()
    kw = {"norm": norm, "bounds": bounds, "generator": generator}
    with torch.no_grad():
        classes = logits(model, x[:1]).shape[1]
    parts = [lambda xs, ys: apgd(model, xs, ys, eps, steps=steps, **kw)]
    if classes >= 4:
        parts.append(lambda xs, ys: apgd_t(model, xs, ys, eps, steps=steps, targets=targets,
                                           **kw))
    parts.append(lambda xs, ys: fab(model, xs, ys, eps, steps=steps, targets=targets, **kw))
    if norm == "linf":
        parts.append(lambda xs, ys: square(model, xs, ys, eps, queries=queries, **kw))
    out = x.clone()
    standing = _predict(model, x) == y
    for i, part in enumerate(parts):
        todo = standing.nonzero()[:, 0]
        if len(todo) == 0:
            break
        adv = part(x[todo], y[todo])
        fooled = _predict(model, adv) != y[todo]
        keep = todo if i == 0 else todo[fooled]
        out[keep] = adv if i == 0 else adv[fooled]
        standing[todo[fooled]] = False
    return out
