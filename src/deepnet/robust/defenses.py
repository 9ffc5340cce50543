"""Defenses of `robust.defense`. Before the run's Trainer is built, `defended_preprocess`
gives the preprocessing (with the input transformation) and `plan` the loss and per-batch
transform (training the distillation teacher with the train library on the way).

- adversarial_training: each training batch is (partly, by `ratio`) replaced by
  adversarial examples of the model being trained: PGD, or fast FGSM with a random start
  (Wong et al., 2020), made in raw input units through the saved normalisation. As in the
  literature (Madry et al., 2018), the examples are made with the network in eval mode
  (no dropout; batch norm uses its running statistics and does not update them); the
  training step that follows is in train mode.
- distillation: a teacher is trained at temperature T (`teacher.safetensors` in the run),
  then the run's model (the student) on the teacher's probabilities softened at T; it is
  deployed at T = 1, its raw logits.
- input_transform: bit-depth reduction and median smoothing of the raw inputs before the
  normalisation, in training and in every use of the run (predict, evaluate, attacks).
  Both have zero or sparse gradients: attacks through them are naive, and BPDA (the
  straight-through gradient) is the adaptive attack that the evaluation adds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepnet import attacks
from deepnet.core.errors import Problems
from deepnet.data.encoding import embedded_positions
from deepnet.data.transforms import Bounds, Normalize, Preprocess, SqueezedPreprocess
from deepnet.runs.files import RunDir
from deepnet.runs.records import TeacherMeta
from deepnet.train.callbacks import Progress, checkpointed
from deepnet.train.losses import LOSSES
from deepnet.train.network import build_network
from deepnet.train.setup import Setup, make_trainer
from deepnet.train.trainer import fit


# ----------------------------------------------------------------------------- adversarial training
class AdversarialBatches:
    """Trainer.batch_transform: the first `ratio` of each (shuffled) batch becomes
    adversarial examples of the current model, made in raw units by the attack
    `cfg.method` (attacks.TRAINING_ATTACKS) from a random start; `cfg.steps` goes to the
    attacks that iterate."""

    def __init__(self, cfg, preprocess: Preprocess, bounds: Bounds, pinned: list[int] = ()):
        self.cfg, self.bounds, self.pinned = cfg, bounds, list(pinned)  # embedded codes
        self.norm = Normalize(preprocess.shift, preprocess.scale)  # moved to the device once
        self.attack = attacks.TRAINING_ATTACKS.get(cfg.method)
        self.options = {"steps": cfg.steps} if "steps" in self.attack.args.model_fields else {}

    def __call__(self, t, xb: torch.Tensor, yb: torch.Tensor):
        m = round(self.cfg.ratio * len(xb))
        if m == 0:
            return xb, yb
        norm = self.norm.to(xb.device)
        shift, scale = norm.shift, norm.scale
        net = nn.Sequential(norm, t.model)
        raw = xb[:m].float() * scale + shift
        c = self.cfg
        training = t.model.training
        t.model.eval()  # the attack sees the network as it is used, and changes nothing
        try:
            adv = self.attack.run(net, raw, yb[:m], c.eps, norm=c.norm, random_start=True,
                                  alpha=c.alpha, bounds=self.bounds, generator=t.augment_rng,
                                  **self.options)
            adv = attacks.pin(adv, raw, self.pinned)
        finally:
            t.model.train(training)
        return torch.cat([((adv - shift) / scale).to(xb.dtype), xb[m:]]), yb


# ----------------------------------------------------------------------------- distillation
class DistillLoss:
    """The student's loss: cross-entropy at temperature T against the teacher's softened
    probabilities of the batch (times T^2, which keeps gradient sizes as at T = 1). On
    validation and test outputs (no gradient) it is the hard-label cross-entropy at T."""

    def __init__(self, base: Callable, temperature: float):
        self.base, self.t = base, temperature
        self.soft: torch.Tensor | None = None  # set by TeacherTargets for the next batch

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.soft is not None and out.requires_grad:
            soft, self.soft = self.soft, None
            logp = F.log_softmax(out.float() / self.t, dim=-1)
            return -(soft * logp).sum(-1).mean() * self.t ** 2
        return self.base(out / self.t, y)


class TeacherTargets:
    """Trainer.batch_transform: the teacher's probabilities at T for the batch."""

    def __init__(self, teacher: nn.Module, loss: DistillLoss):
        self.teacher, self.loss = teacher, loss

    def __call__(self, t, xb: torch.Tensor, yb: torch.Tensor):
        with torch.no_grad():
            self.loss.soft = F.softmax(self.teacher(xb).float() / self.loss.t, dim=-1)
        return xb, yb


def train_teacher(spec, setup: Setup, base_loss: Callable, input_shape: tuple[int, ...],
                  path: Path, quiet: bool, temperature: float, encoding=None) -> nn.Module:
    """The distillation teacher: the spec's model trained like the run (its own seeds, no
    data parallelism), on the loss at temperature T; kept in `teacher.safetensors` (a
    resumed run reuses it)."""
    tc = spec.train
    teacher, _ = build_network(spec.model, input_shape, encoding, spec.seed)
    teacher.to(setup.device)
    files = RunDir(path)
    saved = files.read_teacher()
    if saved is not None:
        teacher.load_state_dict(saved[0])
        return teacher.eval()
    tt = make_trainer(teacher, replace(setup, dist=None),
                      lambda out, y: base_loss(out / temperature, y), seed_offset=7)
    callbacks = checkpointed(tc)
    if not quiet:
        print(f"distillation: training the teacher at temperature {temperature:g}",
              file=sys.stderr)
        callbacks.append(Progress(tc.epochs, len(setup.train_data), tc.metrics[0]))
    fit(tt, callbacks)
    teacher.eval()
    files.write_teacher(teacher, TeacherMeta(temperature, tt.epoch, tt.stop_reason))
    if not quiet:
        print("distillation: training the student on the teacher's soft labels",
              file=sys.stderr)
    return teacher


# ----------------------------------------------------------------------------- the hook
def _defense(spec):
    return spec.robust.defense if spec.robust is not None else None


def _chain(hooks: list[Callable]) -> Callable:
    def transform(t, xb, yb):
        for hook in hooks:
            xb, yb = hook(t, xb, yb)
        return xb, yb

    return transform


def check(spec, prepared, problems: Problems) -> None:
    """Add to `problems` each way the spec's robust section cannot apply to these data;
    called before the run directory is made, so a refused spec leaves nothing behind."""
    if spec.robust is None:
        return
    if prepared.dataset.encoding.kind == "text" or \
            not np.issubdtype(prepared.dataset.x.dtype, np.floating):
        problems.add("robust", "attacks on token inputs are not supported: the data are word "
                               "ids (a text model), which cannot be perturbed; drop the robust "
                               "section")
    if prepared.task != "classification":
        problems.add("robust", f"attacks and defenses need a classification task; this one is "
                               f"{prepared.task}; drop the robust section")
    d = _defense(spec)
    shape = tuple(prepared.dataset.input_shape)
    if d is not None and d.input_transform is not None and d.input_transform.smoothing \
            and len(shape) != 3:
        problems.add("robust.defense.input_transform.smoothing", "median smoothing needs "
                     f"images (channels, height, width); the samples have shape {shape}")
    if d is not None and d.distillation is not None and \
            (spec.train.loss is None or not LOSSES.get(spec.train.loss.name).softmax):
        softmax = " or ".join(name for name, loss in LOSSES.items() if loss.softmax)
        problems.add("robust.defense.distillation", "needs a softmax classifier trained with "
                     f"train.loss: {softmax} (several output units)")


def defended_preprocess(spec, prepared) -> Preprocess:
    """The run's preprocessing, with the input transformation first when the spec's
    defense has one; set on the prepared data before any batch is made."""
    d = _defense(spec)
    if d is None or d.input_transform is None:
        return prepared.preprocess
    return SqueezedPreprocess.wrap(prepared.preprocess, d.input_transform,
                                   tuple(prepared.x_range))


@dataclass(frozen=True)
class Plan:
    """What the spec's defenses hand the training before its Trainer is built."""

    loss_fn: Callable
    batch_transform: Callable | None = None


def plan(spec, prepared, setup: Setup, loss_fn: Callable, path: Path,
         quiet: bool = False) -> Plan:
    """The loss and the per-batch transform of the spec's defenses: adversarial examples
    for adversarial training, then the teacher's soft labels for distillation (the
    teacher is trained here, on the same setup). `prepared.preprocess` already holds the
    input transformation (defended_preprocess); train() has run check(spec, prepared)."""
    d = _defense(spec)
    if d is None:
        return Plan(loss_fn)
    hooks: list[Callable] = []
    if d.adversarial_training is not None:
        hooks.append(AdversarialBatches(d.adversarial_training, prepared.preprocess,
                                        tuple(prepared.x_range),
                                        embedded_positions(prepared.encoding)))
    if d.distillation is not None:
        temperature = d.distillation.temperature
        teacher = train_teacher(spec, setup, loss_fn, tuple(prepared.dataset.input_shape),
                                path, quiet, temperature, prepared.encoding)
        loss_fn = DistillLoss(loss_fn, temperature)
        hooks.append(TeacherTargets(teacher, loss_fn))
    return Plan(loss_fn, _chain(hooks) if hooks else None)
