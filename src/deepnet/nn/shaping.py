"""Layers that change the form of a sample: flatten, reshape, embedding (token ids to
vectors) and embeddingbag (token ids to one vector: the weighted sum of their embeddings,
as fastText reads a text)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from deepnet.core.errors import SpecError
from deepnet.core.schema import PositiveInt
from deepnet.nn.cost import Saved, no_flops
from deepnet.nn.layer_type import Args, Built, Context, LayerType, NoArgs, Node, Shape


class ReshapeArgs(Args):
    main: ClassVar[str] = "shape"
    shape: list[int] = Field(min_length=1)  # one axis may be -1: inferred


class EmbeddingArgs(Args):
    main: ClassVar[str] = "vocab"
    vocab: PositiveInt
    dim: PositiveInt = 32


class EmbeddingBagArgs(EmbeddingArgs):
    # tfidf: each distinct token weighs its sublinear tf-idf, L2-normalised over the text
    # (scikit-learn's TfidfVectorizer(sublinear_tf=True)), the idf fitted on the training
    # split; mean: the mean over the tokens. Padding (id 0) and the unknown token (id 1,
    # as data.text encodes texts) weigh nothing, as scikit-learn ignores the words
    # outside its vocabulary.
    weights: Literal["tfidf", "mean"] = "tfidf"


class Reshape(nn.Module):
    def __init__(self, shape: Shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def _flatten(n: Node, s: Shape, ctx: Context) -> Built:
    return Built(nn.Flatten(), (math.prod(s),))


def _reshape(n: Node, s: Shape, ctx: Context) -> Built:
    a: ReshapeArgs = n.args
    shape, total = list(a.shape), math.prod(s)
    if shape.count(-1) == 1:
        known = -math.prod(shape)
        if known > 0 and total % known == 0:
            shape[shape.index(-1)] = total // known
    if any(size < 1 for size in shape) or math.prod(shape) != total:
        raise n.shape_error(s, f"{total} values to fit shape {a.shape}")
    return Built(Reshape(tuple(shape)), tuple(shape))


def _embedding(n: Node, s: Shape, ctx: Context) -> Built:
    a: EmbeddingArgs = n.args
    n.need_rank(s, (1,), "token ids of shape (time,)")
    emb = nn.Embedding(a.vocab, a.dim)
    nn.init.normal_(emb.weight, generator=ctx.generator)
    return Built(emb, (s[0], a.dim))


class EmbeddingBag(nn.Embedding):
    """(time,) token ids -> (dim,): the weighted sum of their embeddings. Its `idf` (a
    buffer, saved with the weights) is fitted on the training inputs by `adapt` before
    training; until then every token's idf is 1. An nn.Embedding, whose table it shares
    the treatment of (the gradient diagnosis leaves embeddings out)."""

    def __init__(self, vocab: int, dim: int, weights: str, generator: torch.Generator):
        # fastText's initialisation: small vectors, so the first steps learn which
        # words matter instead of undoing noise (N(0, 1) trains 0.2 lower on real text)
        super().__init__(vocab, dim, _weight=torch.empty(vocab, dim).uniform_(
            -1 / dim, 1 / dim, generator=generator))
        self.weights = weights
        self.register_buffer("idf", torch.ones(vocab))

    @torch.no_grad()
    def adapt(self, ids: torch.Tensor) -> None:
        """The idf of each token over the texts `ids` (N, time): ln((1 + N) / (1 + df)) + 1,
        scikit-learn's smooth idf, df the number of texts holding the token."""
        vocab, df = len(self.idf), torch.zeros(len(self.idf), dtype=torch.float64)
        for part in ids.long().split(4096):
            ordered = part.sort(dim=1).values
            held = ordered[run_starts(ordered)]  # each id once per text
            if len(held) and (held.min() < 0 or held.max() >= vocab):
                raise ValueError(f"embeddingbag.adapt: token ids must lie in [0, {vocab}); "
                                 f"got {int(held.min())} to {int(held.max())}")
            df += torch.bincount(held, minlength=vocab).to("cpu", torch.float64)
        self.idf.copy_(torch.log((1 + len(ids)) / (1 + df)) + 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        w = BAG_WEIGHTS[self.weights](ids, self.idf)
        vectors = super().forward(ids)
        return (vectors * w.unsqueeze(-1).to(vectors.dtype)).sum(1)


def run_starts(ordered: torch.Tensor) -> torch.Tensor:
    """(N, time) rows sorted -> True where a run of equal ids begins."""
    return torch.cat([torch.ones_like(ordered[:, :1], dtype=torch.bool),
                      ordered[:, 1:] != ordered[:, :-1]], 1)


def token_counts(ids: torch.Tensor) -> torch.Tensor:
    """(N, time) -> how many times each position's token occurs in its row (float)."""
    ordered, order = ids.sort(dim=1)
    run = run_starts(ordered).long().cumsum(1) - 1  # the run each sorted position is in
    ones = torch.ones(ids.shape, device=ids.device)
    counts = torch.zeros_like(ones).scatter_add_(1, run, ones).gather(1, run)
    return torch.empty_like(counts).scatter_(1, order, counts)


def tfidf_weights(ids: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """(N, time) position weights whose sum per distinct token is its sublinear tf-idf,
    (1 + ln tf) * idf, L2-normalised over the row's distinct known tokens; 0 for padding
    and the unknown token."""
    counts = token_counts(ids)
    tfidf = (1 + counts.log()) * idf[ids] * (ids > 1)
    norm = (tfidf.square() / counts).sum(1, keepdim=True).sqrt().clamp_min(1e-12)
    return tfidf / counts / norm


def mean_weights(ids: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """(N, time) weights of the mean over the known tokens (not padding, not unknown)."""
    tokens = (ids > 1).float()
    return tokens / tokens.sum(1, keepdim=True).clamp_min(1)


BAG_WEIGHTS = {"tfidf": tfidf_weights, "mean": mean_weights}  # embeddingbag.weights


def _embedding_bag(n: Node, s: Shape, ctx: Context) -> Built:
    a: EmbeddingBagArgs = n.args
    n.need_rank(s, (1,), "token ids of shape (time,)")
    if n.path != "model.layers[0]":  # its idf is fitted on the network's inputs
        raise SpecError(f"{n.path}: embeddingbag reads the data's token ids, so it must be "
                        "the first layer, model.layers[0]", path=n.path)
    return Built(EmbeddingBag(a.vocab, a.dim, a.weights, ctx.generator), (a.dim,))


def adapt(model: nn.Module, inputs: torch.Tensor) -> None:
    """Fits the layers of `model` whose statistics come from the training data (an
    embeddingbag's idf) on `inputs`, the training split's network inputs."""
    for module in model.modules():
        if isinstance(module, EmbeddingBag):
            module.adapt(inputs)


def needs_adapt(model: nn.Module) -> bool:
    return any(isinstance(m, EmbeddingBag) for m in model.modules())


def _view(a, s: Shape, out: Shape, e: int) -> Saved:  # the input's storage, batch-major
    return Saved(view=True, needs_batch_major=True)


TYPES = {
    "flatten": LayerType(NoArgs, _flatten, no_flops, _view),
    "reshape": LayerType(ReshapeArgs, _reshape, no_flops, _view),
    # It keeps the token ids (int64) for the weight gradient.
    "embedding": LayerType(EmbeddingArgs, _embedding, no_flops,
                           lambda a, s, out, e: Saved(input=True), input_bytes=8),
    # It keeps the token ids for the weight gradient and the position weights for the sum;
    # on the way it holds the (time, dim) vectors and the sort's ids, order and counts.
    "embeddingbag": LayerType(EmbeddingBagArgs, _embedding_bag,
                              lambda a, s, out: 2 * s[0] * a.dim,
                              lambda a, s, out, e: Saved(input=True, extra=4 * s[0],
                                                         work=s[0] * (a.dim * e + 40)),
                              input_bytes=8),
}
