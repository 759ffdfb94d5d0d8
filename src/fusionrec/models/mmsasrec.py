"""MM-SASRec: SASRec whose items are their content, so new items can be recommended.

The sequence encoder is SASRec's (``fusionrec.models.sasrec``: causal self-attention over
the last ``max_length`` items, shared input/output item vectors). What changes is the item
vector. Each modality m of item i (text, image, audio features f_i^m) is projected to the
embedding size and the projections are fused by a mask-aware operator
(``fusionrec.models.fusion``: missing modalities carry no weight):

    c_i = Fuse_m(W_m f_i^m + b_m)
    e_i = M_i + sigmoid(g) * c_i          (default: id embedding plus gated content)
    e_i = M_i + sigmoid(g + a z_i) * c_i  (``gate: by_count``)
    e_i = c_i                             (``id_free: true``)
    e_i = M_i, loss + lambda mean_i |M_i - c_i|^2     (``content: prior``)

with g a learned per-dimension gate. In the ``by_count`` gate, z_i is item i's standardised
log(1 + n_i), n_i its training interactions, and a a learned per-dimension slope: with a < 0
content weighs more for rarely seen items, whose id embeddings have little to learn from,
and less for popular ones, whose ids already rank them (on the sparse catalogue gated
content was ahead for users whose held-out movie was rarely rated and behind for the
popular ones: benchmarks/results/sequential_sparse.md).

The prior mode is collaborative topic regression's (Wang & Blei, KDD 2011: an item's factor
is its content's topic vector plus an offset with a Gaussian prior) carried over to SASRec:
content never enters a score, so it cannot give the model a path to fit the training
sequences, but an item with few interactions is pulled towards where its content places it,
and an item with many follows its interactions.

e_i is both the input at a sequence position holding i and the target i is scored against:
r_i = F_n . e_i. In id-free mode nothing about an item is learned from its identity, so an
item never seen in training (a new release) has a vector as good as a trained one and can be
recommended, and a user's history may contain it.

Content-in-sequence models of this kind: e.g. UniSRec (Hou et al., KDD 2022, text),
MMSRec (Song et al., 2023), ID-free sequential recommenders (Yuan et al., SIGIR 2023,
"Where to go next for recommender systems? ID- vs. modality-based").

When to use: catalogues with content features and new items arriving (id_free), or sparse
item histories where content helps the id embeddings (default).
"""

from __future__ import annotations

from typing import Literal

import pydantic
import torch
from torch import nn

from fusionrec.models.base import TrainData, register
from fusionrec.models.fusion import ModalityProjector, make_fusion
from fusionrec.models.sasrec import SASRec, SASRecParams


class MMSASRecParams(SASRecParams):
    #: Represent items only by their content (no id embedding): new items can be scored.
    id_free: bool = False
    #: Mask-aware operator combining the projected modalities: concat | sum | gated.
    fusion: Literal["concat", "sum", "gated"] = "sum"
    #: Hidden size of a 2-layer MLP projector per modality; None = linear projections.
    projector_hidden: int | None = 256
    #: Initial logit g of the content gate sigmoid(g). At -3 content starts at weight 0.05 and
    #: the id embeddings learn first; at 0 (weight 0.5) the content projector fits the training
    #: sequences within ten epochs and validation peaks early and lower (chosen on validation
    #: on movielens-100k-mm: benchmarks/results/sequential_probes.md).
    gate_init: float = -3.0
    #: ``add``: e_i = M_i + sigmoid(g) c_i. ``prior``: e_i = M_i, with lambda |M_i - c_i|^2
    #: added to the loss (lambda = ``prior_weight``).
    content: Literal["add", "prior"] = "add"
    prior_weight: float = pydantic.Field(1.0, ge=0)
    #: ``shared``: one gate sigmoid(g) for every item. ``by_count``: sigmoid(g + a z_i), z_i
    #: the item's standardised log training count, a learned from ``count_slope_init``.
    gate: Literal["shared", "by_count"] = "shared"
    count_slope_init: float = -1.0

    @pydantic.model_validator(mode="after")
    def _content_modes_consistent(self) -> MMSASRecParams:
        if self.id_free and self.content == "prior":
            raise ValueError("content 'prior' regularises id embeddings: it needs id_free false")
        if self.gate == "by_count" and (self.id_free or self.content == "prior"):
            raise ValueError(
                "gate 'by_count' weighs content against id embeddings: it needs content 'add' "
                "and id_free false"
            )
        return self


@register
class MMSASRec(SASRec):
    name = "mmsasrec"
    ParamsSchema = MMSASRecParams
    requires_features = True

    def __init__(self, data: TrainData, params: MMSASRecParams) -> None:
        super().__init__(data, params)
        d = params.embedding_size
        self.projector = ModalityProjector(
            data.features, d, hidden=params.projector_hidden, standardize=True
        )
        self.fusion = make_fusion(params.fusion, len(data.features), d)
        if params.id_free:
            del self.items  # no id embedding at all: nothing is learned per item
        elif params.content == "add":
            self.gate = nn.Parameter(torch.full((d,), params.gate_init))
        if params.gate == "by_count":
            self.count_slope = nn.Parameter(torch.full((d,), params.count_slope_init))
            log_counts = torch.log1p(torch.as_tensor(data.item_popularity, dtype=torch.float32))
            spread = log_counts.std().clamp_min(1e-6)  # one count for every item: z = 0
            self.register_buffer("count_z", ((log_counts - log_counts.mean()) / spread)[:, None])

    def content_vectors(self) -> torch.Tensor:
        """[n_items, d] fused content vectors c_i."""
        return self.fusion(*self.projector())

    def item_vectors(self) -> torch.Tensor:
        if self.params.content == "prior":
            return self.items.weight
        content = self.content_vectors()
        if self.params.id_free:
            return content
        return self.items.weight + self.content_weights() * content

    def content_weights(self) -> torch.Tensor:
        """The gate on the content, [d] (``shared``) or [n_items, d] (``by_count``)."""
        if self.params.gate == "by_count":
            return torch.sigmoid(self.gate + self.count_slope * self.count_z)
        return torch.sigmoid(self.gate)

    def content_prior(self) -> torch.Tensor:
        """mean_i |M_i - c_i|^2 over the catalogue (``content: prior``)."""
        return (self.items.weight - self.content_vectors()).pow(2).sum(dim=1).mean()

    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = super().calculate_loss(batch)
        if self.params.content == "prior":
            loss = loss + self.params.prior_weight * self.content_prior()
        return loss

    def behaviour_embeddings(self) -> torch.Tensor | None:
        return None if self.params.id_free else self.items.weight.detach()
