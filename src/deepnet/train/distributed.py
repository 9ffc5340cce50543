"""Data-parallel training under torchrun (DistributedDataParallel).

`torchrun --nproc_per_node=N -m deepnet train SPEC` starts N processes; each takes its
share of every global batch (the global batch is train.batch_size, the same samples in the
same order as one process would see), gradients are averaged by DDP, batch normalisation
is synchronised across processes, and only rank 0 writes the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as td
from torch import nn

from deepnet.core.errors import DeepnetError


def launched() -> bool:
    """True inside a torchrun launch with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return td.get_rank() if td.is_available() and td.is_initialized() else int(
        os.environ.get("RANK", "0"))


@dataclass
class Dist:
    """This process's place in the group, and the few collectives training needs."""

    rank: int
    world: int
    device: torch.device

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch (sizes differ by at most 1)."""
        return t.tensor_split(self.world)[self.rank]

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone()
        td.all_reduce(t)
        return t

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """Every rank's rows, in rank order (padded for the collective, then trimmed)."""
        n = torch.tensor([len(t)], device=t.device)
        sizes = [torch.zeros_like(n) for _ in range(self.world)]
        td.all_gather(sizes, n)
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[: len(t)] = t
        parts = [torch.zeros_like(padded) for _ in range(self.world)]
        td.all_gather(parts, padded)
        return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes, strict=True)])

    def broadcast_text(self, text: str | None) -> str:
        """Rank 0's string on every rank (the run directory's path)."""
        data = torch.zeros(4096, dtype=torch.uint8, device=self.device)
        if self.rank == 0:
            raw = text.encode()
            data[: len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
        td.broadcast(data, 0)
        return bytes(data.cpu().tolist()).rstrip(b"\0").decode()

    def barrier(self) -> None:
        td.barrier()

    def close(self) -> None:
        td.destroy_process_group()


def init(device_name: str) -> Dist | None:
    """Join the torchrun group (gloo on CPU, nccl on GPU); None outside torchrun."""
    if not launched():
        return None
    world, rank_ = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not td.is_initialized():
        try:
            td.init_process_group("nccl" if use_cuda else "gloo")
        except (RuntimeError, ValueError) as e:
            raise DeepnetError(f"cannot join the torchrun group: {e}") from None
    return Dist(rank_, world, device)


def wrap(model: nn.Module, dist: Dist) -> nn.Module:
    """Synchronised batch normalisation, then DistributedDataParallel."""
    if dist.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[dist.device])
    _sync_batchnorm_cpu(model)
    return nn.parallel.DistributedDataParallel(model)


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation whose training statistics span every process (PyTorch's
    SyncBatchNorm is GPU-only). The per-channel sums travel through a differentiable
    all-reduce, so the backward pass is synchronised too. Same parameters and buffers as
    BatchNorm, so checkpoints stay interchangeable."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), x.numel() / c, dtype=x.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c : 2 * c] / n - mean * mean
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; its gradient is the sum of every process's gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        td.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        td.all_reduce(grad)
        return grad


def _sync_batchnorm_cpu(module: nn.Module) -> None:
    # Swapping the class in place keeps every parameter, buffer and module path as is.
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.__class__ = CpuSyncBatchNorm
