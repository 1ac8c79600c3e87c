"""The cloak's upload-like transformations: drawn as often as their weights say, and checked."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from bioveil.cloaking.robustness import EOT, KIND_WEIGHTS, EOTSettings, draw_kind
from bioveil.errors import InvalidOptionError


def test_kinds_are_drawn_in_proportion_to_their_weights():
    generator = torch.Generator().manual_seed(0)
    draws = 6000
    counts = Counter(draw_kind(generator, KIND_WEIGHTS) for _ in range(draws))
    total = sum(weight for _kind, weight in KIND_WEIGHTS)
    assert set(counts) == {kind for kind, _weight in KIND_WEIGHTS}
    for kind, weight in KIND_WEIGHTS:
        expected = draws * weight / total
        assert abs(counts[kind] - expected) < 4 * expected**0.5, (kind, counts[kind], expected)
    assert counts["resize"] > 1.7 * counts["jpeg"]


def test_a_kind_of_weight_one_alone_is_always_drawn():
    generator = torch.Generator().manual_seed(1)
    assert {draw_kind(generator, (("blur", 1),)) for _ in range(50)} == {"blur"}


@pytest.mark.parametrize("kinds", [(("sharpen", 1),), (("jpeg", 0),), (("jpeg", 1.5),), ()])
def test_unknown_kinds_and_weights_not_whole_or_below_one_are_refused(kinds):
    with pytest.raises(InvalidOptionError, match="EOT kinds"):
        EOTSettings(kinds=kinds)


def test_an_image_keeps_its_shape_through_every_draw():
    eot = EOT(torch.Generator().manual_seed(2))
    x = torch.rand(1, 3, 48, 40) * 255
    for _ in range(20):
        assert eot.image(x).shape == x.shape
