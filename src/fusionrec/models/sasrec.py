"""SASRec: self-attentive sequential recommendation.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. The user's last n
items s_1..s_n (n = ``max_length``, left-padded) are embedded with a learned position
embedding (Sec. III-A/B):

    E_t = M_{s_t} + P_t

and passed through b blocks of causal self-attention and a point-wise feed-forward network
(Sec. III-B/C), with the paper's g(x) = x + Dropout(g(LayerNorm(x))) around each:

    S = SA(E) = softmax(Q K^T / sqrt(d)) V,  Q = LN(E) W^Q, K = E W^K, V = E W^V,
        where query t attends only to keys j <= t (causality) that are real items;
    F_t = FFN(S_t) = ReLU(S_t W^(1) + b^(1)) W^(2) + b^(2).

(Q from the normalised input, K and V from the raw one, as in the authors' code; padded
positions are zeroed after every block.) The relevance of item i after the last position is

    r_i = F_n^(b) . M_i        (shared item embedding, Sec. III-D)

Training (``training: window``, default) is the paper's: each window of a user's sequence
is read once and every position predicts the item after it. The paper's loss is binary
cross-entropy against one sampled negative per position;
``loss: ce`` (default) is the full softmax over all items (RecBole's default, much stronger
on MovieLens), ``loss: bpr`` the pairwise analogue of the paper's loss.

When to use: users with ordered histories where recent items predict the next one (viewing,
listening, shopping sessions); it needs timestamps or a meaningful row order.
"""

from __future__ import annotations

import math
from typing import Literal

import pydantic
import torch
from torch import nn

from fusionrec.models.base import TrainData, register
from fusionrec.models.sequential import SequentialParams, SequentialRecommender, item_table


class SASRecParams(SequentialParams):
    #: ``paper``: the blocks above. ``bert``: the post-norm transformer block of BERT, which
    #: RecBole's SASRec uses: E_t = LayerNorm(M_{s_t} + P_t) (no sqrt(d) scale), then
    #: x = LN(x + Dropout(SA(x))) with Q, K, V from x, and x = LN(x + Dropout(FFN(x))) with
    #: a GELU, no final LayerNorm.
    block: Literal["paper", "bert"] = "paper"
    n_layers: int = pydantic.Field(2, ge=1)
    n_heads: int = pydantic.Field(2, ge=1)
    #: Hidden size of the point-wise feed-forward network.
    inner_size: int = pydantic.Field(256, ge=1)
    #: Dropout on embeddings and sub-layer outputs (RecBole's hidden_dropout_prob).
    dropout: float = pydantic.Field(0.5, ge=0, lt=1)
    attention_dropout: float = pydantic.Field(0.5, ge=0, lt=1)

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> SASRecParams:
        if self.embedding_size % self.n_heads:
            raise ValueError(
                f"embedding_size {self.embedding_size} must be a multiple of n_heads {self.n_heads}"
            )
        return self


def multi_head_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, allowed: torch.Tensor,
    dropout: float,
) -> torch.Tensor:  # fmt: skip
    """Scaled dot-product attention of [B, n, d] queries, keys and values split into
    ``heads`` heads, keys masked by ``allowed``; the heads joined back into [B, n, d]."""
    b, n, d = q.shape

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, n, heads, d // heads).transpose(1, 2)

    att = nn.functional.scaled_dot_product_attention(
        split(q), split(k), split(v), attn_mask=allowed, dropout_p=dropout
    )
    return att.transpose(1, 2).reshape(b, n, d)


class AttentionBlock(nn.Module):
    """One SASRec block: causal multi-head self-attention then the feed-forward network."""

    def __init__(self, dim: int, heads: int, inner: int, dropout: float, attn_drop: float):
        super().__init__()
        self.heads, self.attn_drop = heads, attn_drop
        self.norm_q, self.norm_ff = nn.LayerNorm(dim, eps=1e-8), nn.LayerNorm(dim, eps=1e-8)
        self.query, self.key_value = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, inner), nn.ReLU(), nn.Dropout(dropout), nn.Linear(inner, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        q_in = self.norm_q(x)
        k, v = self.key_value(x).chunk(2, dim=-1)
        drop = self.attn_drop if self.training else 0.0
        att = multi_head_attention(self.query(q_in), k, v, self.heads, allowed, drop)
        x = q_in + self.drop(self.out(att))
        x_n = self.norm_ff(x)
        return x_n + self.drop(self.ffn(x_n))


class BertBlock(nn.Module):
    """One post-norm transformer block (``block: bert``): attention, add, LayerNorm, then
    the GELU feed-forward network, add, LayerNorm."""

    def __init__(self, dim: int, heads: int, inner: int, dropout: float, attn_drop: float):
        super().__init__()
        self.heads, self.attn_drop = heads, attn_drop
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm_att, self.norm_ff = nn.LayerNorm(dim, eps=1e-12), nn.LayerNorm(dim, eps=1e-12)
        self.ffn = nn.Sequential(nn.Linear(dim, inner), nn.GELU(), nn.Linear(inner, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        drop = self.attn_drop if self.training else 0.0
        att = multi_head_attention(q, k, v, self.heads, allowed, drop)
        x = self.norm_att(x + self.drop(self.out(att)))
        return self.norm_ff(x + self.drop(self.ffn(x)))


class SASRecEncoder(nn.Module):
    """Position embeddings + ``n_layers`` causal attention blocks + a final layer norm;
    returns the last position's output (the window's most recent item)."""

    def __init__(self, params: SASRecParams) -> None:
        super().__init__()
        d = params.embedding_size
        bert = params.block == "bert"
        self.scale = 1.0 if bert else math.sqrt(d)
        self.positions = nn.Embedding(params.max_length, d)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.drop = nn.Dropout(params.dropout)
        block = BertBlock if bert else AttentionBlock
        self.blocks = nn.ModuleList(
            block(d, params.n_heads, params.inner_size, params.dropout, params.attention_dropout)
            for _ in range(params.n_layers)
        )
        # paper: a LayerNorm after the blocks; bert: one on the input embeddings instead
        self.norm_in = nn.LayerNorm(d, eps=1e-12) if bert else nn.Identity()
        self.norm = nn.Identity() if bert else nn.LayerNorm(d, eps=1e-8)

    def forward(self, windows: torch.Tensor, table: torch.Tensor, pad: int) -> torch.Tensor:
        """[B, L, d]: the output at every position (position t has seen items <= t)."""
        n = windows.shape[1]
        real = windows != pad
        x = self.norm_in(table[windows] * self.scale + self.positions.weight[:n])
        x = self.drop(x) * real.unsqueeze(-1)
        # query t sees keys j <= t that are items, and always itself (a row of only padding
        # must still attend to something, or softmax returns NaN)
        eye = torch.eye(n, dtype=torch.bool, device=windows.device)
        causal = torch.ones(n, n, dtype=torch.bool, device=windows.device).tril()
        allowed = (causal & real.unsqueeze(1)) | eye
        for block in self.blocks:
            x = block(x, allowed.unsqueeze(1)) * real.unsqueeze(-1)
        return self.norm(x)


@register
class SASRec(SequentialRecommender):
    name = "sasrec"
    ParamsSchema = SASRecParams

    def __init__(self, data: TrainData, params: SASRecParams) -> None:
        super().__init__(data, params)
        self.items = item_table(data.n_items, params.embedding_size)
        self.encoder = SASRecEncoder(params)

    def item_vectors(self) -> torch.Tensor:
        return self.items.weight

    def encode(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.encoder(windows, table, self.pad)[:, -1]

    def encode_positions(self, windows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.encoder(windows, table, self.pad)
