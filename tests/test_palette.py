"""colorcli.palette: k-means, gamut bins, rebalancing, encoding and decoding."""

from __future__ import annotations

import pytest
import torch

from colorcli.palette import (
    decode_logits,
    encode_hard,
    encode_soft,
    fit_gamut,
    fit_kmeans_palette,
    gamut_grid,
    rebalancing_weights,
)


def test_kmeans_recovers_planted_colours() -> None:
    planted = torch.tensor([[-40.0, 30.0], [20.0, 60.0], [50.0, -20.0], [0.0, 0.0]])
    generator = torch.Generator().manual_seed(1)
    samples = planted.repeat_interleave(500, dim=0) + torch.randn(2000, 2, generator=generator)
    centres = fit_kmeans_palette(samples, 4, seed=3)
    distance = torch.cdist(planted, centres).min(dim=1).values
    assert distance.max() < 0.5


def test_kmeans_refuses_too_few_samples() -> None:
    with pytest.raises(ValueError, match="at least 8 samples"):
        fit_kmeans_palette(torch.zeros(3, 2), 8)


def test_hard_encode_decode_round_trip_is_bounded_by_palette_spacing() -> None:
    centres = fit_kmeans_palette(torch.rand(5000, 2) * 200 - 100, 32, seed=0)
    ab = torch.rand(1, 2, 16, 16) * 200 - 100
    index = encode_hard(ab, centres)
    decoded = centres[index].permute(0, 3, 1, 2)
    # 32 colours over a 200×200 square: every point is within ~25 units of a centre
    assert (decoded - ab).norm(dim=1).max() < 30
    logits = torch.nn.functional.one_hot(index, 32).permute(0, 3, 1, 2).float() * 50
    assert torch.allclose(decode_logits(logits, centres, method="argmax"), decoded)
    assert torch.allclose(decode_logits(logits, centres, method="annealed"), decoded, atol=1e-3)
    assert torch.allclose(decode_logits(logits, centres, method="topk"), decoded, atol=1e-3)


def test_gamut_bins_hand_computed() -> None:
    ab = torch.tensor([[0.0, 0.0], [1.0, -2.0], [12.0, 9.0], [-104.0, 111.0], [0.0, 0.0]])
    centres, counts = fit_gamut(ab)
    assert centres.tolist() == [[-100.0, 110.0], [0.0, 0.0], [10.0, 10.0]]
    assert counts.tolist() == [1, 3, 1]
    assert gamut_grid().shape == (529, 2)


def test_rebalancing_weights_hand_computed() -> None:
    counts = torch.tensor([3, 1])
    centres = torch.tensor([[0.0, 0.0], [100.0, 100.0]])
    weights = rebalancing_weights(counts, centres, mix=0.5, sigma=0.0)
    # p = (0.75, 0.25); w ∝ 1 / (0.5 p + 0.25) = (1/0.625, 1/0.375); Σ p w = 1
    raw = torch.tensor([1 / 0.625, 1 / 0.375])
    expected = raw / (torch.tensor([0.75, 0.25]) * raw).sum()
    assert torch.allclose(weights, expected)
    assert weights[1] > weights[0]


def test_soft_encoding_sums_to_one_and_peaks_at_nearest() -> None:
    centres = gamut_grid()
    ab = torch.tensor([[[[3.0]], [[-2.0]]]])
    target = encode_soft(ab, centres)
    assert target.shape == (1, 529, 1, 1)
    assert torch.allclose(target.sum(dim=1), torch.ones(1, 1, 1))
    assert (target > 0).sum() == 5
    assert torch.equal(centres[target[0, :, 0, 0].argmax()], torch.tensor([0.0, 0.0]))


def test_annealed_mean_interpolates_between_mean_and_mode() -> None:
    centres = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    logits = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    mean = decode_logits(logits, centres, method="mean")[0, 0, 0, 0]
    annealed = decode_logits(logits, centres, method="annealed", temperature=0.38)[0, 0, 0, 0]
    mode = decode_logits(logits, centres, method="argmax")[0, 0, 0, 0]
    assert mode < annealed < mean


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="logits must have shape"):
        decode_logits(torch.zeros(1, 3, 2, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="unknown decode method"):
        decode_logits(torch.zeros(1, 4, 2, 2), torch.zeros(4, 2), method="median")
