"""Colour hints: parsing, colour at a pixel's lightness, rasterising, simulation, guided models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorcli.color import rgb_to_lab
from colorcli.errors import HintError, ModelError, UsageError
from colorcli.guidance import (
    REFERENCE_FEATURES,
    HintSpread,
    ab_histogram,
    evaluation_hints,
    simulate_training_hints,
    simulate_training_reference,
    spread_hints,
)
from colorcli.hints import (
    HintPoint,
    Hints,
    ab_at_lightness,
    hint_map,
    parse_colour,
    parse_hint,
    reference_features,
)
from colorcli.models import get_model
from colorcli.models.lite_unet import HINT_SCALE, pool_hints
from colorcli.pipeline import Colorizer, prepare_input
from colorcli.training.config import TrainConfig


def test_parse_pixel_and_fraction_hints() -> None:
    assert parse_hint("120,340=#c0392b") == HintPoint(
        120, 340, (192, 57, 43), relative=False, text="120,340=#c0392b"
    )
    point = parse_hint("0.52, 0.20 = red")
    assert point.relative and (point.x, point.y) == (0.52, 0.20) and point.rgb == (255, 0, 0)
    assert parse_hint("1,2=rgb(1, 2, 3)").rgb == (1, 2, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("120;340=red", "malformed hint"),
        ("a,b=red", "must be numbers"),
        ("1.5,0.2=red", r"fractions must be in \[0, 1\]"),
        ("-1,2=red", "must be >= 0"),
        ("1,2=notacolour", "unknown colour 'notacolour'"),
    ],
)
def test_bad_hints_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(HintError, match=message):
        parse_hint(text)


def test_colour_keeps_its_hue_at_the_pixel_lightness() -> None:
    red = torch.tensor([[1.0, 0.0, 0.0]])
    own_lightness = rgb_to_lab(red.T[:, :, None])[0, 0, 0]
    # at its own lightness the colour is unchanged
    torch.testing.assert_close(
        ab_at_lightness(red, own_lightness[None]),
        rgb_to_lab(red.T[:, :, None])[1:, 0, 0][None],
        atol=0.05,
        rtol=0,
    )
    dark = ab_at_lightness(red, torch.tensor([20.0]))[0]
    assert dark[0] > 20 and abs(torch.atan2(dark[1], dark[0]) - 0.69) < 0.2  # still red
    assert ab_at_lightness(torch.zeros(1, 3), torch.tensor([50.0])).abs().max() == 0


def test_hint_map_places_points_and_refuses_outside() -> None:
    pixels = np.full((40, 80, 3), 128, np.uint8)
    model_input = prepare_input(pixels, 32)
    hints = Hints(points=[parse_hint("79,0=blue"), parse_hint("0.0,1.0=yellow")])
    maps = hint_map(hints, pixels, model_input.lightness, model_input.content)
    assert maps.shape == (3, 32, 32)
    assert maps[2, 0, 31] == 1 and maps[2, 15, 0] == 1  # top right, bottom left of the content
    assert maps[1, 0, 31] < -20 and maps[1, 15, 0] > 20  # blue: b < 0, yellow: b > 0
    assert maps[2, 16:].sum() == 0  # padding rows never hinted
    with pytest.raises(HintError, match="outside the 80×40 photo"):
        hint_map(Hints(points=[parse_hint("80,3=red")]), pixels, *_li(model_input))


def _li(model_input):  # (lightness, content)
    return model_input.lightness, model_input.content


def test_hint_image_of_another_size_is_scaled_to_the_photo() -> None:
    pixels = np.full((40, 80, 3), 100, np.uint8)
    scribble = np.zeros((20, 40, 4), np.uint8)
    scribble[:, 20:, :3] = (0, 200, 0)
    scribble[:, 20:, 3] = 255
    model_input = prepare_input(pixels, 32)
    maps = hint_map(Hints(image=scribble), pixels, *_li(model_input))
    assert maps[2, :16, 17:].min() == 1 and maps[2, :16, :15].max() == 0
    assert maps[0, :16, 17:].max() < -10  # green: a < 0


def test_simulated_hints_reveal_the_truth_and_are_reproducible() -> None:
    ab = torch.randn(8, 2, 32, 32) * 30
    first = simulate_training_hints(ab, torch.Generator().manual_seed(3))
    again = simulate_training_hints(ab, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    mask = first[:, 2] > 0
    assert mask.any()
    # a 1-pixel patch shows that pixel's ab exactly; bigger ones their mean, within range
    assert first[:, :2].abs().max() <= ab.abs().max()
    fixed = evaluation_hints(ab, 5, seed=7)
    assert torch.equal(fixed, evaluation_hints(ab, 5, seed=7))
    assert int((fixed[:, 2] > 0).flatten(1).any(1).sum()) == 8
    assert evaluation_hints(ab, 0, seed=7).abs().sum() == 0


def test_histogram_is_normalised_and_references_are_sometimes_given() -> None:
    ab = torch.randn(16, 2, 16, 16) * 40
    histogram = ab_histogram(ab)
    assert histogram.shape == (16, REFERENCE_FEATURES)
    torch.testing.assert_close(histogram[:, :-1].sum(1), torch.ones(16))
    reference = simulate_training_reference(ab, torch.Generator().manual_seed(0))
    given = reference[:, -1] == 1
    assert 0 < int(given.sum()) < 16
    assert reference[~given].abs().sum() == 0


def test_reference_features_of_a_photo() -> None:
    red = np.zeros((300, 200, 3), np.uint8)
    red[..., 0] = 200
    features = reference_features(red)
    assert features.shape == (REFERENCE_FEATURES,)
    assert features[:-1].max() == 1.0 and features[-1] == 1.0


def _guided():
    torch.manual_seed(0)
    model = get_model("lite0", guided=True, width=8, colors="gamut", num_classes=16)
    centres = torch.stack(
        torch.meshgrid(torch.arange(-30.0, 31, 20), torch.arange(-30.0, 31, 20), indexing="ij"), -1
    ).reshape(-1, 2)
    model.head.set_palette(centres)
    return model


def test_a_new_guided_model_ignores_hints_until_trained() -> None:
    """Zero-initialised hint layers: a guided model starts where the automatic one is."""
    model = _guided().eval()
    lightness = torch.rand(2, 1, 64, 64) * 100
    ab = torch.randn(2, 2, 64, 64) * 30
    hints = evaluation_hints(ab, 10, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(model(lightness, hints, ab_histogram(ab)), model(lightness))


def test_hint_branch_learns_to_follow_hints() -> None:
    model = _guided()
    lightness = torch.rand(4, 1, 64, 64) * 100
    ab = torch.randn(4, 2, 1, 1).expand(-1, -1, 64, 64) * 25
    hints = evaluation_hints(ab, 5, seed=0)
    optimiser = torch.optim.Adam(model.body.hint_branch.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = model.loss(model(lightness, hints), ab)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_pooled_hints_keep_a_single_pixel_hint_colour() -> None:
    hints = torch.zeros(1, 3, 16, 16)
    hints[0, :, 5, 6] = torch.tensor([44.0, -22.0, 1.0])
    pooled = pool_hints(hints, 4)
    assert pooled.shape == (1, 4, 4, 4)
    torch.testing.assert_close(pooled[0, :2, 1, 1] * HINT_SCALE, torch.tensor([44.0, -22.0]))
    assert float(pooled[0, 2, 1, 1]) == pytest.approx(1 / 16)
    assert float(pooled[0, 3, 1, 1]) == 1.0
    assert float(pooled[0].abs().sum()) == pytest.approx(float(pooled[0, :, 1, 1].abs().sum()))


def test_hints_only_training_leaves_the_automatic_model_exactly() -> None:
    """--hints-only: a few optimiser steps later, no hints gives the same output bit for
    bit, an image with no hint in a batch is untouched, and hints now change colours."""
    model = _guided()
    model.body.freeze_base()
    model.requires_grad_(False)
    model.body.hint_branch.requires_grad_(True)
    model.train()
    lightness = torch.rand(2, 1, 64, 64) * 100
    ab = torch.randn(2, 2, 1, 1).expand(-1, -1, 64, 64) * 25
    with torch.no_grad():
        before = model(lightness)
    hints = evaluation_hints(ab, 5, seed=0)
    optimiser = torch.optim.Adam(model.body.hint_branch.parameters(), lr=1e-2)
    for _ in range(3):
        loss = model.loss(model(lightness, hints), ab)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    one_hinted = hints.clone()
    one_hinted[1] = 0
    with torch.no_grad():
        torch.testing.assert_close(model(lightness), before, rtol=0, atol=0)
        mixed = model(lightness, one_hinted)
        torch.testing.assert_close(mixed[1], before[1], rtol=0, atol=0)
        assert float((mixed[0] - before[0]).abs().max()) > 0


def test_hints_only_needs_a_guided_model() -> None:
    with pytest.raises(UsageError, match="--guided"):
        TrainConfig(arch="lite0", hints_only=True)


def test_colorizer_takes_hints_only_with_a_guided_model() -> None:
    pixels = np.full((48, 64, 3), 120, np.uint8)
    guided = Colorizer(_guided(), size=64)
    out = guided.colorize(pixels, hints=[(10, 20, "red"), (0.5, 0.5, (0, 0, 255))])
    assert out.shape == pixels.shape
    confidence = guided.confidence_map(pixels)
    assert confidence.shape == (48, 64) and confidence.dtype == np.uint8
    automatic = Colorizer(get_model("tiny", width=4), size=32)
    with pytest.raises(ModelError, match="takes no colour hints"):
        automatic.colorize(pixels, hints=[(1, 1, "red")])
    with pytest.raises(HintError, match="unknown colour"):
        guided.colorize(pixels, hints=[(1, 1, "reddish")])


def test_parse_colour_names() -> None:
    assert parse_colour("royalblue") == (65, 105, 225)


def test_a_non_contiguous_photo_is_colourized() -> None:
    pixels = np.full((3, 40, 48), 120, np.uint8).transpose(1, 2, 0)  # a channel-first view
    assert not pixels.flags.c_contiguous
    out = Colorizer(get_model("tiny", width=4), size=32).colorize(pixels)
    assert out.shape == (40, 48, 3)


def test_spread_hints_pulls_near_colours_and_stops_at_an_edge() -> None:
    ab = torch.zeros(1, 2, 16, 16)
    lightness = torch.full((1, 1, 16, 16), 30.0)
    lightness[..., 8:] = 80.0  # an edge down the middle
    hints = torch.zeros(1, 3, 64, 64)  # any resolution: pooled to the grid
    hints[0, :, 8:12, 8:12] = torch.tensor([40.0, -20.0, 1.0])[:, None, None]
    spread = spread_hints(ab, lightness, hints, HintSpread(space=0.2, lightness=8, prior=0.1))
    hinted = spread[0, :, 2, 2]
    assert float(hinted[0]) == pytest.approx(40.0, abs=4.0)
    assert float(hinted[1]) == pytest.approx(-20.0, abs=2.0)
    assert 0 < float(spread[0, 0, 2, 6]) < float(hinted[0])  # fades with distance
    assert float(spread[0, 0, 2, 9].abs()) < 0.5  # across the edge: the model's colour
    torch.testing.assert_close(spread_hints(ab, lightness, torch.zeros(1, 3, 64, 64)), ab)


def test_a_colorizer_spreads_hints_only_when_asked() -> None:
    pixels = np.full((64, 64, 3), 120, np.uint8)
    hint = [(0.5, 0.5, "red")]
    spread = Colorizer(_guided(), size=64).colorize(pixels, hints=hint)
    plain = Colorizer(_guided(), size=64, spread_hints=None).colorize(pixels, hints=hint)
    red = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0])[:, None, None][None])[0, 1:, 0, 0]
    assert red[0] > 0
    lab = rgb_to_lab(torch.from_numpy(spread).permute(2, 0, 1)[None].float() / 255)
    assert float(lab[0, 1, 32, 32]) > 20  # the hint's a* arrived where it was put
    assert not np.array_equal(spread, plain)
