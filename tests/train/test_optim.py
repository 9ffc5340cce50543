"""deepnet.train.optim: each optimizer and schedule of the spec against the plain torch.optim
equivalent on a tiny model."""

import pytest
import torch
from torch.optim import lr_scheduler

from deepnet.spec import Spec
from deepnet.train.optim import make_optimizer, make_schedule
from factory import mlp_spec

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 6


def train_section(optimizer=None, schedule=None, epochs=4):
    overrides = {"train.optimizer": optimizer} if optimizer is not None else {}
    if schedule is not None:
        overrides["train.schedule"] = schedule
    return Spec.from_dict(mlp_spec(epochs=epochs, **overrides)).train


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def run(make_opt, steps=STEPS) -> list[torch.Tensor]:
    """The parameters of the tiny model after `steps` optimizer steps on fixed batches."""
    model = tiny_model()
    opt = make_opt(model.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


# (spec section, the same optimizer in plain torch)
CASES = {
    "sgd": ({"name": "sgd", "lr": 0.1},
            lambda p, **kw: torch.optim.SGD(p, lr=0.1, **kw)),
    "sgd_momentum_nesterov_decay": (
        {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        lambda p, **kw: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                        weight_decay=0.01, **kw)),
    "adam": ({"name": "adam", "lr": 0.01},
             lambda p, **kw: torch.optim.Adam(p, lr=0.01, **kw)),
    "adam_decay": ({"name": "adam", "lr": 0.01, "weight_decay": 0.1},
                   lambda p, **kw: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, **kw)),
    "adamw": ({"name": "adamw", "lr": 0.01, "weight_decay": 0.1},
              lambda p, **kw: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, **kw)),
    "rmsprop": ({"name": "rmsprop", "lr": 0.01, "momentum": 0.5, "weight_decay": 0.01},
                lambda p, **kw: torch.optim.RMSprop(p, lr=0.01, momentum=0.5,
                                                    weight_decay=0.01, **kw)),
}


@pytest.mark.parametrize("case", CASES)
def test_optimizer_equals_plain_torch(case):
    section, plain = CASES[case]
    o = train_section(section).optimizer
    ours = run(lambda p: make_optimizer(p, o))
    start = [p.detach() for p in tiny_model().parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(ours, start, strict=True))  # it trained
    fused = section["name"] != "rmsprop"  # PyTorch has no fused RMSprop
    if fused:  # the very same kernel: bit for bit
        for a, b in zip(ours, run(lambda p: plain(p, fused=True)), strict=True):
            assert torch.equal(a, b)
    for a, b in zip(ours, run(lambda p: plain(p, foreach=False)), strict=True):  # a loop
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_fused_where_pytorch_has_a_kernel(name):
    o = train_section({"name": name}).optimizer
    opt = make_optimizer(tiny_model().parameters(), o)
    assert bool(opt.defaults.get("fused")) == (name != "rmsprop")
    assert opt.defaults["lr"] == pytest.approx(1e-3)  # the spec's default


def test_unfused_on_devices_without_a_kernel():
    o = train_section({"name": "adam", "lr": 0.02}).optimizer
    params = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    opt = make_optimizer(iter(params), o)  # any iterable of parameters
    assert not opt.defaults.get("fused") and opt.param_groups[0]["params"] == params
    assert opt.defaults["lr"] == 0.02


# ----------------------------------------------------------------------------- schedules
EPOCHS, PER_EPOCH, LR = 6, 3, 0.1

SCHEDULES = {
    "step": ({"name": "step", "step_size": 2, "gamma": 0.5}, "epoch",
             lambda opt: lr_scheduler.StepLR(opt, 2, 0.5)),
    "cosine": ({"name": "cosine"}, "epoch",
               lambda opt: lr_scheduler.CosineAnnealingLR(opt, EPOCHS)),
    "onecycle": ({"name": "onecycle"}, "batch",  # peaks at the optimizer's lr
                 lambda opt: lr_scheduler.OneCycleLR(opt, LR, total_steps=EPOCHS * PER_EPOCH)),
    "onecycle_max_lr": ({"name": "onecycle", "max_lr": 0.5}, "batch",
                        lambda opt: lr_scheduler.OneCycleLR(opt, 0.5,
                                                            total_steps=EPOCHS * PER_EPOCH)),
    "linear": ({"name": "linear"}, "batch",  # to 0 at the last batch: lr * (1 - k / steps)
               lambda opt: lr_scheduler.LambdaLR(opt, lambda k: 1 - k / (EPOCHS * PER_EPOCH))),
    "plateau": ({"name": "plateau", "factor": 0.5, "patience": 1}, "val",
                lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)),
}
VAL_LOSSES = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8]  # plateau: worse twice, then better


def lrs(scheduler, opt, when: str) -> list[float]:
    """The lr of every training step of EPOCHS epochs, stepping as `when` says."""
    out = []
    for epoch in range(EPOCHS):
        for _ in range(PER_EPOCH):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if when == "batch":
                scheduler.step()
        if when == "epoch":
            scheduler.step()
        elif when == "val":
            scheduler.step(VAL_LOSSES[epoch])
    return out


def sgd(lr=LR):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


@pytest.mark.parametrize("case", SCHEDULES)
def test_schedule_equals_plain_torch(case):
    section, when, plain = SCHEDULES[case]
    tc = train_section({"name": "sgd", "lr": LR}, section, epochs=EPOCHS)
    opt = sgd()
    scheduler, got_when = make_schedule(opt, tc.schedule, tc.optimizer.lr, tc.epochs, PER_EPOCH)
    assert got_when == when
    ours = lrs(scheduler, opt, when)
    reference_opt = sgd()
    assert ours == pytest.approx(lrs(plain(reference_opt), reference_opt, when), rel=1e-12)
    assert len(set(ours)) > 1  # the lr does change


def test_no_schedule_keeps_the_lr():
    tc = train_section({"name": "adam", "lr": 0.02})
    assert tc.schedule.name == "none"
    assert make_schedule(sgd(0.02), tc.schedule, 0.02, 4, PER_EPOCH) == (None, "epoch")


def test_onecycle_with_no_full_batch_still_has_one_step_per_epoch():
    tc = train_section(schedule="onecycle", epochs=3)
    opt = sgd()
    scheduler, when = make_schedule(opt, tc.schedule, LR, tc.epochs, 0)
    assert when == "batch" and scheduler.total_steps == 3
