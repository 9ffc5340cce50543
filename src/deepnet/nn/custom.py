"""Layer types registered from Python (`deepnet.register_layer`): a builder of one's own
torch module, usable in a spec like a built-in layer.

The builder takes the layer's validated arguments and the per-sample input shape and
returns an nn.Module. deepnet calls it with the global RNG seeded from the spec's seed
(so the same spec and seed give the same weights), infers the output shape by running
the module on two zero samples, and counts its parameters in the summary. Its FLOPs are
what `flops(args, input_shape, output_shape)` says (0 when not given); what it keeps for
backward is not known, so the memory estimate counts only its parameters, gradients and
optimizer state, and says it excludes its activations (`LayerType.custom`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from deepnet.core.errors import SpecError
from deepnet.nn.cost import Saved, Shape
from deepnet.nn.layer_type import Args, Built, Context, LayerType, NoArgs, Node


def _no_flops(a: Any, s: Shape, out: Shape) -> int:
    return 0


def _unknown_saves(a: Any, s: Shape, out: Shape, e: int) -> Saved:
    return Saved()  # not modelled: the estimate says it excludes these activations


def output_shape(module: nn.Module, shape: Shape, path: str, name: str) -> Shape:
    """The per-sample output shape of `module` on `shape`, from a forward pass of two
    zero samples in eval mode (the module's mode is restored)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((2, *shape)))
    except Exception as e:  # noqa: BLE001 - a user's module: any failure is its shape error
        raise SpecError(f"{path}: the registered layer {name!r} fails on input of shape "
                        f"{tuple(shape)} per sample: {type(e).__name__}: {e}", path=path) from None
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != 2:
        raise SpecError(f"{path}: the registered layer {name!r} must return one tensor of "
                        f"(batch, ...); got {type(out).__name__}"
                        f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}",
                        path=path)
    return tuple(out.shape[1:])


def custom_type(name: str, builder: Callable[[Any, Shape], nn.Module],
                args: type[Args] | None = None,
                flops: Callable[[Any, Shape, Shape], int] | None = None) -> LayerType:
    """The LayerType of a layer registered from Python (see the module's doc)."""

    def build(node: Node, shape: Shape, ctx: Context) -> Built:
        seed = int(torch.randint(0, 2**62, (1,), generator=ctx.generator))
        with torch.random.fork_rng(devices=[]):  # lazy modules draw at their first call
            torch.manual_seed(seed)
            try:
                module = builder(node.args, tuple(shape))
            except Exception as e:  # noqa: BLE001 - a user's builder: any failure is named
                raise SpecError(f"{node.path}: the builder of the registered layer {name!r} "
                                f"fails on input of shape {tuple(shape)} per sample: "
                                f"{type(e).__name__}: {e}", path=node.path) from None
            if not isinstance(module, nn.Module):
                raise SpecError(f"{node.path}: the builder of the registered layer {name!r} "
                                f"must return a torch.nn.Module; got {type(module).__name__}",
                                path=node.path)
            return Built(module, output_shape(module, shape, node.path, name))

    return LayerType(args or NoArgs, build, flops or _no_flops, _unknown_saves, custom=True)
