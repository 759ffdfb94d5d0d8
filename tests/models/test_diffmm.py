"""DiffMM: the diffusion's closed forms, the generated sparse graphs, missing modalities, the
denoisers' own training schedule, and ranking quality on content-driven data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from missing_rows import spoil_missing_rows
from synthetic_mm import (
    Synthetic,
    check_scores,
    loss_trajectory,
    sample_batch,
    text_only,
    train_quick,
)

from fusionrec.errors import ConfigError
from fusionrec.models.base import TrainData, validate_params
from fusionrec.models.diffmm import DiffMM, DiffMMParams, GaussianDiffusion

pytestmark = pytest.mark.usefixtures("one_thread")


def make(data: TrainData, **params) -> DiffMM:
    torch.manual_seed(0)
    return DiffMM(data, DiffMMParams(**params))


def test_forward_process_matches_closed_form() -> None:
    """Noising step by step with q(x_t | x_{t-1}) = N(sqrt(1 - b_t) x_{t-1}, b_t) must give
    the moments of the closed form q(x_t | x_0) = N(sqrt(abar_t) x_0, 1 - abar_t) that
    ``q_sample`` draws from; noise_scale 30 makes the variances large enough to measure."""
    diff = GaussianDiffusion(steps=5, noise_scale=30.0, noise_min=1e-4, noise_max=0.02)
    betas = diff.betas.double()
    torch.testing.assert_close(diff.abar.double(), torch.cumprod(1 - betas, 0), rtol=1e-5, atol=0)
    torch.manual_seed(0)
    x0 = torch.tensor([0.0, 1.0, 1.0, 0.0]).expand(200_000, 4)
    chained = x0.clone()
    for t in range(diff.steps):
        chained = (1 - betas[t]).sqrt() * chained + betas[t].sqrt() * torch.randn_like(x0)
        step = torch.full((len(x0),), t)
        closed = diff.q_sample(x0, step, torch.randn_like(x0))
        abar = float(diff.abar[t])
        for sample in (chained, closed):
            expected_mean = (abar**0.5 * x0[0]).float()
            torch.testing.assert_close(sample.mean(0).float(), expected_mean, atol=0.01, rtol=0)
            var = sample.var(0).float()
            torch.testing.assert_close(var, torch.full((4,), 1 - abar), atol=0.01, rtol=0.03)
    assert float(diff.abar[-1]) < 0.8  # the noise above was really measured


def test_elbo_weights_and_reverse_step_recover_x0() -> None:
    """w_t = SNR(t-1) - SNR(t) (w_0 = 1); a denoiser that predicts x_0 exactly is a fixed
    point of the reverse process (the posterior mean of x_{t-1} given x_t and x_0)."""
    diff = GaussianDiffusion(steps=5, noise_scale=0.1, noise_min=1e-4, noise_max=0.02)
    t = torch.arange(5)
    snr = diff.abar / (1 - diff.abar)
    expected = torch.cat([torch.ones(1), snr[:-1] - snr[1:]])
    torch.testing.assert_close(diff.elbo_weight(t), expected, rtol=1e-3, atol=0)
    x0 = (torch.rand(3, 10) < 0.3).float()

    class Oracle(torch.nn.Module):
        def forward(self, x, t, dropout=False):
            return x0

    torch.testing.assert_close(diff.p_sample(Oracle(), x0, start=0, noisy=False), x0)


def test_scores_loss_and_single_modality(synthetic: Synthetic) -> None:
    model = make(synthetic.data)
    check_scores(model, synthetic.data.n_users, synthetic.data.n_items)
    losses = loss_trajectory(model, sample_batch(synthetic.data))
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0]
    single = make(text_only(synthetic), cl_weight=1.0)
    multi = loss_trajectory(single, sample_batch(synthetic.data, n_neg=3))
    assert all(np.isfinite(multi)) and multi[-1] < multi[0]
    # one modality: the contrastive term still acts (main view vs the modality view)
    single.train()
    batch = sample_batch(synthetic.data)
    torch.manual_seed(1)
    with_cl = single.calculate_loss(batch)
    single.params = single.params.model_copy(update={"cl_weight": 0.0})
    assert with_cl > single.calculate_loss(batch) + 1e-3


def test_denoisers_train_only_in_their_own_pass(synthetic: Synthetic) -> None:
    """The trainer's optimiser never sees the denoisers; the epoch hook trains them and their
    loss falls over passes."""
    model = make(synthetic.data)
    trainer_params = {id(p) for p in model.parameters() if p.requires_grad}
    assert not trainer_params & {id(p) for p in model.denoisers.parameters()}
    before = [p.clone() for p in model.denoisers.parameters()]
    model.train()
    passes = [model.train_diffusion() for _ in range(40)]
    assert np.mean(passes[-5:]) < 0.5 * np.mean(passes[:5])
    assert any(
        not torch.equal(a, b) for a, b in zip(before, model.denoisers.parameters(), strict=True)
    )
    assert not any(p.requires_grad for p in model.denoisers.parameters())


def test_generated_graphs_are_sparse_top_k_and_follow_content(synthetic: Synthetic) -> None:
    k = 4  # small user batches: several denoiser steps an epoch on 80 users
    model = make(synthetic.data, rebuild_k=k, diffusion_batch=16)
    train_quick(model, synthetic, epochs=10)
    n_users, n_items = synthetic.data.n_users, synthetic.data.n_items
    for name in model.names:
        gen = getattr(model, f"gen_{name}")
        assert gen.shape == (n_users, k) and int(gen.min()) >= 0
        assert all(len(set(row)) == k for row in gen.tolist())
        graph = model.generated_graph(name)
        assert graph.nnz == 2 * n_users * k + n_users + n_items
        # users prefer one of 4 clusters: random edges would agree ~1/4 of the time
        agree = (synthetic.cluster[gen.numpy()] == synthetic.user_pref[:, None]).mean()
        assert agree > 0.5, (name, agree)


def test_missing_modality_features_are_never_read(synthetic: Synthetic) -> None:
    """Garbage in the rows of items without an image changes nothing, in training or scoring."""
    results = []
    for garbage in (False, True):
        model = make(synthetic.data)
        if garbage:
            assert spoil_missing_rows(model.projector.present["image"]) > 0
        train_quick(model, synthetic, epochs=3)
        results.append(model.eval().score(torch.arange(synthetic.data.n_users)))
    torch.testing.assert_close(results[0], results[1])


def test_beats_most_popular_on_content_driven_data(synthetic: Synthetic) -> None:
    evaluator = synthetic.warm_evaluator()
    pop = torch.from_numpy(synthetic.data.item_popularity).float()
    popular = evaluator.evaluate(lambda u: pop.expand(len(u), -1))["recall@10"]
    model = make(synthetic.data)
    train_quick(model, synthetic, epochs=15)
    recall = evaluator.evaluate(model.eval().score)["recall@10"]
    assert recall > popular + 0.3, (recall, popular)


def test_invalid_schedules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="noise_min must be below noise_max"):
        validate_params("diffmm", {"noise_min": 0.1, "noise_max": 0.01})
    with pytest.raises(ConfigError, match="sampling_steps must not exceed steps"):
        validate_params("diffmm", {"steps": 3, "sampling_steps": 4})


def test_contrast_is_infonce_against_every_row_of_the_other_view() -> None:
    """-log softmax of cosine / tau, each anchor's own row of b the positive, every row of b
    a negative; a repeated anchor counts once per occurrence."""
    from fusionrec.models.diffmm import contrast

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(30, 8, generator=gen), torch.randn(30, 8, generator=gen)
    idx, tau = torch.tensor([3, 3, 7, 0, 29, 3]), 0.2
    ref_a, ref_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    terms = []
    for i in idx.tolist():
        cos = (
            torch.stack([torch.cosine_similarity(ref_a[i], ref_b[j], dim=0) for j in range(30)])
            / tau
        )
        terms.append(torch.logsumexp(cos, dim=0) - cos[i])
    reference = torch.stack(terms).mean()
    a.requires_grad_(), b.requires_grad_()
    loss = contrast(a, b, idx, tau)
    torch.testing.assert_close(loss, reference)
    loss.backward(), reference.backward()
    torch.testing.assert_close(a.grad, ref_a.grad)
    torch.testing.assert_close(b.grad, ref_b.grad)
