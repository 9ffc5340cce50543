"""Augmentation of training batches, on the device, seeded (placeholder: the data issue
fills in the transforms)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def make_augment(items, input_shape, preprocess) -> Callable[[torch.Tensor, torch.Generator],
                                                                torch.Tensor]:
    """A function (normalised batch, generator) -> augmented batch for spec.data.augment."""
    raise NotImplementedError("augmentation arrives with the data issue")
