"""The contract every recommender implements, so a new model is one file.

A model gets a ``TrainData`` (sizes, the training matrix, item features, item labels) and
its validated hyper-parameters. Trainable models implement ``calculate_loss(batch)``; all
models implement ``score(users, items=None)``. Batching, negative sampling, masking and top-k
belong to the trainer and the evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pydantic
import scipy.sparse as sp
import torch
from torch import nn

from fusionrec.data.features import ItemFeatures
from fusionrec.data.sequences import Sequences
from fusionrec.errors import ConfigError, ModelError, did_you_mean


@dataclass
class TrainData:
    """Everything a model may look at when it is built: training interactions only.

    ``item_labels`` holds optional per-item targets for auxiliary tasks (for example a
    multi-hot genre matrix under ``"genres"``), aligned with item indices. ``sequences``
    holds the training interactions as per-user time-ordered sequences
    (``fusionrec.data.sequences``); sequential models need them, the others ignore them.
    """

    n_users: int
    n_items: int
    train_matrix: sp.csr_matrix
    features: ItemFeatures | None = None
    item_labels: dict[str, np.ndarray] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    sequences: Sequences | None = None

    @property
    def item_popularity(self) -> np.ndarray:
        return np.asarray(self.train_matrix.sum(axis=0)).ravel()


class Params(pydantic.BaseModel):
    """Base of every model's hyper-parameter schema; unknown keys are errors."""

    model_config = pydantic.ConfigDict(extra="forbid")


class Recommender(nn.Module):
    """Base class. Subclasses set ``name``, a ``Params`` schema and implement ``score``."""

    name: ClassVar[str] = ""
    ParamsSchema: ClassVar[type[Params]] = Params
    #: False for models fitted in closed form (``fit``), without gradient steps.
    trainable: ClassVar[bool] = True
    #: False for models whose loss needs no sampled negatives (e.g. BM3).
    needs_negatives: ClassVar[bool] = True
    #: Modalities the model requires ("any" = at least one); empty for id-only models.
    requires_features: ClassVar[bool] = False
    #: True for models that read a user's ordered history (``models.sequential``): the
    #: trainer then adds each example's ``positions`` in ``TrainData.sequences`` to the
    #: batch, and the experiment sets the history to score with (``set_history``).
    sequential: ClassVar[bool] = False
    #: False for an embedding model whose ``score`` adds terms its user and item vectors do
    #: not carry (VBPR's item biases): no model may borrow its vectors as scores. Where the
    #: extra term is per item, ``item_score_offsets`` gives it.
    scores_by_dot_product: ClassVar[bool] = True

    def __init__(self, data: TrainData, params: Params) -> None:
        super().__init__()
        self.n_users = data.n_users
        self.n_items = data.n_items
        self.params = params
        self._cache: dict[str, Any] = {}
        if self.requires_features and (data.features is None or len(data.features) == 0):
            raise ModelError(
                f"model '{self.name}' needs item features; none were given. "
                "Add 'features: {}' to the config (every modality the dataset has content or "
                "pre-computed features for), or name them: 'features: {modalities: [text]}'"
            )

    # -- contract -------------------------------------------------------------------------
    def calculate_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise ModelError(f"model '{self.name}' is not trained by gradient steps")

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [len(users), n_items] (or [len(users), len(items)] when ``items`` given)."""
        raise NotImplementedError

    def fit(self, data: TrainData) -> None:
        """Closed-form fitting for models with ``trainable = False``."""

    def on_epoch_start(self, epoch: int) -> None:
        """Hook for per-epoch work (re-sampling graphs, schedules)."""

    def training_state(self) -> dict[str, Any]:
        """Training state outside the weights and the trainer's optimizer (a second
        optimizer, say), saved in each checkpoint so that a stopped run resumes to the
        weights an uninterrupted one reaches; not part of ``state_dict`` because a trained
        model does not need it."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Put back what ``training_state`` returned, after the weights are loaded."""

    def item_embeddings(self) -> torch.Tensor | None:
        return None

    def user_embeddings(self) -> torch.Tensor | None:
        return None

    def item_score_offsets(self) -> torch.Tensor | None:
        """[n_items]: the per-item term ``score`` adds to user . item vectors, so that
        score(u, i) = user_embeddings()[u] . item_embeddings()[i] + offsets[i] (VBPR's item
        biases); None where the score is the dot product alone. It lets such a model be
        served from vectors: the offset rides along as one more coordinate."""
        return None

    def behaviour_embeddings(self) -> torch.Tensor | None:
        """Item vectors learned from interactions alone, for models that fuse content into
        ``item_embeddings()`` but keep a behaviour-only part (None: no such part)."""
        return None

    # -- helpers --------------------------------------------------------------------------
    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Memoise expensive full-catalogue computations (graph propagation) while in eval
        mode; every switch back to training clears the cache."""
        if self.training:
            return compute()
        if key not in self._cache:
            with torch.no_grad():
                self._cache[key] = compute()
        return self._cache[key]

    def train(self, mode: bool = True) -> Recommender:
        self._cache = {}
        return super().train(mode)

    @staticmethod
    def dot_scores(
        user_vec: torch.Tensor, item_vec: torch.Tensor, items: torch.Tensor | None
    ) -> torch.Tensor:
        if items is None:
            return user_vec @ item_vec.T
        return user_vec @ item_vec[items].T


class ForwardRecommender(Recommender):
    """A model whose ``forward()`` returns (user vectors, item vectors) and that scores by
    their dot product: the graph and fusion models. Scoring and exported embeddings follow."""

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        user_vec, item_vec = self.forward()
        return self.dot_scores(user_vec[users], item_vec, items)

    def item_embeddings(self) -> torch.Tensor:
        return self.forward()[1].detach()

    def user_embeddings(self) -> torch.Tensor:
        return self.forward()[0].detach()


MODELS: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator adding a model to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    MODELS[cls.name] = cls
    return cls


def model_class(name: str) -> type[Recommender]:
    """The registered model called ``name``; a config error listing the registered names
    otherwise. Importing this module imports ``fusionrec.models``, which registers them all."""
    if name not in MODELS:
        guess = did_you_mean(name, MODELS)
        raise ConfigError(
            f"model.name: unknown model '{name}'{f' ({guess})' if guess else ''}; "
            f"choose from {', '.join(sorted(MODELS))}"
        )
    return MODELS[name]


def validate_params(name: str, params: dict[str, Any] | None) -> Params:
    """``params`` checked against the model's ``Params`` schema; each problem (one a line)
    names its ``model.params.<key>`` and the model, so a config fails before data is read."""
    schema = model_class(name).ParamsSchema
    try:
        return schema(**(params or {}))
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(["model.params", *(str(p) for p in err["loc"])])
            hint = ""
            if err["type"] == "extra_forbidden":
                known = ", ".join(schema.model_fields) or "no params"
                guess = did_you_mean(str(err["loc"][-1]), schema.model_fields)
                hint = f" takes {known}" + (f"; {guess}" if guess else "")
            problems.append(f"{key}: {err['msg']} (model '{name}'{hint})")
        raise ConfigError("\n".join(problems)) from exc


def build_model(name: str, data: TrainData, params: dict[str, Any] | None = None) -> Recommender:
    """Instantiate a registered model with validated hyper-parameters."""
    model = model_class(name)(data, validate_params(name, params))
    return model.to(data.device)


def id_embeddings(n_users: int, n_items: int, dim: int) -> tuple[nn.Embedding, nn.Embedding]:
    """User and item id embedding tables, Xavier-uniform initialised (as MMRec's models)."""
    users, items = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
    nn.init.xavier_uniform_(users.weight)
    nn.init.xavier_uniform_(items.weight)
    return users, items


def gather_rows(table: torch.Tensor, *indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``table[i]`` for each index tensor, through one gather: each gather's backward fills a
    zero gradient as large as the whole table, so positives and negatives share one."""
    flat = torch.cat([i.reshape(-1) for i in indices])
    rows = table.index_select(0, flat)
    sizes = [i.numel() for i in indices]
    return tuple(
        part.reshape(*i.shape, table.shape[1])
        for part, i in zip(rows.split(sizes), indices, strict=True)
    )


def distinct_items(
    pos: torch.Tensor, neg: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct items of a batch's positives and negatives, and where each positive and
    negative sits among them: per-item work (projecting 1280-wide features) is then done once
    per item, not once per occurrence (a popular item recurs many times in a batch)."""
    rows, inverse = torch.unique(torch.cat([pos.reshape(-1), neg.reshape(-1)]), return_inverse=True)
    return rows, inverse[: pos.numel()].view(pos.shape), inverse[pos.numel() :].view(neg.shape)


def pos_neg_scores(
    u: torch.Tensor, p: torch.Tensor, n: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot scores of user rows with their positive items and their negatives ([B] or [B, k])."""
    pos = (u * p).sum(-1)
    neg = (u.unsqueeze(1) * n).sum(-1) if n.dim() == 3 else (u * n).sum(-1)
    return pos, neg


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: -log sigmoid(pos - neg), averaged (neg may be [B, n])."""
    if neg.dim() == 2:
        pos = pos.unsqueeze(1)
    return nn.functional.softplus(neg - pos).mean()


def l2_reg(*tensors: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared L2 norm of the given embedding rows (as MMRec)."""
    batch = tensors[0].shape[0]
    return sum(t.pow(2).sum() for t in tensors) / (2 * batch)
