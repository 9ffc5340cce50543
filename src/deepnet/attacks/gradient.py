"""The classic gradient attacks: FGSM, PGD, Carlini-Wagner L2 and DeepFool."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deepnet.attacks.core import (
    Bounds,
    attack_loss,
    check_args,
    logit_margin,
    logits,
    loss_grad,
    per_example,
    project,
    step_direction,
    uniform_start,
)


@torch.enable_grad()
def fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         norm: str = "linf", targeted: bool = False, bounds: Bounds = (0.0, 1.0),
         random_start: bool = False, alpha: float | None = None, loss: str = "ce",
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Fast gradient sign method: one step of size eps along the sign of the loss gradient
    (l2: along the normalised gradient). With `random_start` it is "fast FGSM" (Wong et
    al., 2020): a uniform start in the ball, then a step of `alpha` (default 1.25 eps)."""
    check_args(eps, norm, bounds)
    x = x.detach()
    start = x
    if random_start:
        start = project(x + uniform_start(x, eps, norm, generator), x, eps, norm, bounds)
        alpha = 1.25 * eps if alpha is None else alpha
    else:
        alpha = eps if alpha is None else alpha
    grad = loss_grad(model, start, y, targeted, loss)
    return project(start + alpha * step_direction(grad, norm), x, eps, norm, bounds)


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
    check_args(eps, norm, bounds)
    x = x.detach()
    alpha = 2.5 * eps / steps if alpha is None else alpha
    best, best_ok, best_loss = x, None, None
    for _ in range(restarts if random_start else 1):
        x_adv = x
        if random_start:
            x_adv = project(x + uniform_start(x, eps, norm, generator), x, eps, norm, bounds)
        for _ in range(steps):
            grad = loss_grad(model, x_adv, y, targeted, loss)
            x_adv = project(x_adv + alpha * step_direction(grad, norm), x, eps, norm, bounds)
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
        best = torch.where(per_example(better, x_adv), x_adv, best)
        best_ok, best_loss = best_ok | ok, torch.where(better, value, best_loss)
    return best



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
    check_args(eps, norm, bounds)
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
            margin = logit_margin(z, y, targeted)
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
                closest = torch.where(per_example(closer, x), x_adv.detach(), closest)
                within = closer if eps is None else ok & (l2 <= eps) & (l2 < best_norm)
                best_norm = torch.where(within, l2, best_norm)
                best = torch.where(per_example(within, x), x_adv.detach(), best)
        c_hi = torch.where(found, torch.minimum(c_hi, c_now), c_hi)
        c_lo = torch.where(found, c_lo, torch.maximum(c_lo, c_now))
        c_now = torch.where(torch.isinf(c_hi), c_now * 10, (c_lo + c_hi) / 2)
    if eps is not None:  # no success within eps: the closest success, scaled down to eps
        missing = torch.isinf(best_norm) & ~torch.isinf(closest_norm)
        capped = project(closest, x, eps, "l2", bounds)
        best = torch.where(per_example(missing, x), capped, best)
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
    check_args(eps, norm, bounds)
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
