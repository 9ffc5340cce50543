"""What every attack shares: the logits of a batch, the losses an attack increases, their
input gradients, perturbation norms and the projection into the eps-ball and the bounds."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Bounds = tuple[float, float]
NORMS = ("linf", "l2")
TARGETS = ("next", "random", "least_likely")
LOSSES = ("ce", "margin", "dlr")
# z (logits) -> (per-example value the attack increases, whether each reached its goal)
Objective = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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
        return -logit_margin(z, y, targeted)
    if loss == "dlr":
        if targeted or z.shape[1] < 3:
            raise ValueError("the dlr loss is untargeted and needs 3 or more classes; got "
                             + ("a targeted attack" if targeted else f"{z.shape[1]} classes")
                             + ": use loss ce")
        top = z.sort(dim=1).values
        other = torch.where(z.argmax(1) == y, top[:, -2], top[:, -1])
        return (other - z.gather(1, y[:, None])[:, 0]) / (top[:, -1] - top[:, -3] + 1e-12)
    raise ValueError(f"unknown attack loss {loss!r}; valid: {', '.join(LOSSES)}")


def objective(y: torch.Tensor, targeted: bool = False, loss: str = "ce") -> Objective:
    """The attack's goal on labels `y` (targeted: the target classes) as an Objective."""
    def of(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reached = z.argmax(1) == y if targeted else z.argmax(1) != y
        return attack_loss(z, y, targeted, loss), reached
    return of


def value_grad(model, x_adv: torch.Tensor, goal: Objective
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the objective's per-example value, the gradient of its sum with respect to the
    inputs, whether each example reached the goal) at x_adv."""
    x_adv = x_adv.detach().requires_grad_(True)
    value, reached = goal(logits(model, x_adv))
    (grad,) = torch.autograd.grad(value.sum(), x_adv)
    return value.detach(), grad.detach(), reached


def loss_grad(model, x_adv: torch.Tensor, y: torch.Tensor, targeted: bool,
              loss: str = "ce") -> torch.Tensor:
    """The gradient of the summed per-example attack loss with respect to the inputs."""
    return value_grad(model, x_adv, objective(y, targeted, loss))[1]


def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example perturbation norms (linf or l2) of a batch."""
    flat = delta.reshape(len(delta), -1).float()
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
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
            delta = delta * per_example(factor, delta)
    return (x + delta).clamp(bounds[0], bounds[1]).detach()


def pin(x_adv: torch.Tensor, x: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """x_adv with the features at `positions` (of a table: the codes of categorical
    columns looked up in embeddings, which no small change can perturb) put back to x's."""
    if not positions:
        return x_adv
    out = x_adv.clone()
    out[:, positions] = x[:, positions]
    return out


def uniform_start(x: torch.Tensor, eps: float, norm: str,
                  generator: torch.Generator | None) -> torch.Tensor:
    """A uniform draw from the eps-ball (linf: the cube; l2: the ball)."""
    dev = generator.device if generator is not None else x.device
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=dev)
        return ((u * 2 - 1) * eps).to(x.device, x.dtype)
    d = x[0].numel()
    g = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    r = torch.rand(len(x), generator=generator, device=dev).to(x.device, x.dtype) ** (1 / d)
    return g / per_example(norms(g, "l2").clamp_min(1e-12), g) * per_example(r * eps, g)


def step_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / per_example(norms(grad, "l2").clamp_min(1e-12), grad)


def check_args(eps: float | None, norm: str, bounds: Bounds) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    if eps is not None and not eps >= 0:
        raise ValueError(f"eps must be >= 0 (raw input units); got {eps}")
    if not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with low < high; got {bounds}")


def logit_margin(z: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """How far each example is from the attack's goal in logits (<= 0: reached)."""
    own = z.gather(1, y[:, None])[:, 0]
    other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
    return other - own if targeted else own - other
