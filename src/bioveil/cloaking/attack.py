"""The cloak's optimization: projected gradient descent against an ensemble of recognizers.

In the style of torchattacks' ``PGD``: hyperparameters in ``__init__`` (one table of modes below),
the maths in :meth:`EnsemblePGD.forward`. Each step draws an upload-like transformation (EOT, see
:mod:`bioveil.cloaking.robustness`), cuts every recognizer's chip from the perturbed photo with a
differentiable affine warp (jittered), and descends on, per recognizer,
``cos(embedding, owner) - decoy_weight * cos(embedding, decoy) - feature_weight * feature_change``,
where ``feature_change`` is the relative RMS change of a mid-network activation (see
``FEATURE_LAYERS``) from the clean face's: moving those shared, generic features is what transfers
to recognizers outside the ensemble (leave-one-out SFace PSR rose from 0.75 to 0.90 with it on 20
LFW people). Each recognizer's gradient is
normalized separately before they are summed (else FaceNet's dominates and dlib barely moves); the
step is a signed step scaled by the per-pixel budget, and the perturbation is projected back into
that budget and the valid pixel range. No momentum: under an SSIM budget it saturates every pixel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bioveil.cloaking.robustness import EOT
from bioveil.errors import UnknownNameError
from bioveil.recognition.align import warp
from bioveil.recognition.base import Recognizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mode:
    """One row of the hyperparameter table."""

    name: str
    eps: float  # L_inf budget in 0-255 units on textured pixels (flat skin gets a quarter)
    steps: int
    step_ratio: float  # signed step, as a share of each pixel's budget
    eot: bool
    decoy_weight: float
    ssim_floor: float
    feature_weight: float = 0.0  # weight of the mid-network feature loss (transfer to unseen recognizers)


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("fast", eps=16.0, steps=12, step_ratio=0.20, eot=True, decoy_weight=0.5, ssim_floor=0.953, feature_weight=1.0),
        Mode("balanced", eps=16.0, steps=30, step_ratio=0.10, eot=True, decoy_weight=0.5, ssim_floor=0.953, feature_weight=1.0),
        Mode("strong", eps=16.0, steps=60, step_ratio=0.06, eot=True, decoy_weight=0.5, ssim_floor=0.953, feature_weight=1.0),
    )
}
DEFAULT_MODE = "balanced"

# With this many recognizers or more, each runs its forward and backward pass on its own thread with one
# intra-op thread, instead of one after another with all threads: small batch-1 convolutions use two cores
# poorly. Measured on 2 cores, per step: all three 116 ms side by side against 155 ms in turn; but a pair
# is slower side by side (dlib + SFace 72 against 62 ms, FaceNet + dlib 106 against 96): the larger network
# sets the pace.
SIDE_BY_SIDE_FROM = 3


def _one_thread() -> None:
    """Set up a side-by-side worker: one intra-op thread, and flush-denormal (both are per thread, so the
    main thread's settings do not reach it; the pool's threads end with the attack)."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


def _middle(sequence: Any) -> Any:
    items = list(sequence.values()) if hasattr(sequence, "values") else list(sequence)
    return items[len(items) // 2]


# Where each recognizer's mid-network features are read for the feature loss (by recognizer name).
FEATURE_LAYERS: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "dlib": lambda model: _middle(model.blocks),
    "facenet": lambda model: model.repeat1,
    "sface": lambda model: _middle(model.blocks),
}


def get_mode(name: str | Mode) -> Mode:
    if isinstance(name, Mode):
        return name
    if name not in MODES:
        raise UnknownNameError("cloak mode", name, list(MODES))
    return MODES[name]


class EnsemblePGD:
    """Signed-gradient PGD on a photo window, against several recognizers at once."""

    def __init__(self, recognizers: Sequence[Recognizer], mode: Mode, generator: torch.Generator) -> None:
        self.recognizers = list(recognizers)
        self.mode = mode
        self.generator = generator
        self.eot = EOT(generator, enabled=mode.eot)
        for recognizer in self.recognizers:
            recognizer.model.eval()

    def forward(self, window: torch.Tensor, budget: torch.Tensor, maps: dict[str, torch.Tensor],
                owners: dict[str, torch.Tensor], decoys: dict[str, torch.Tensor]) -> torch.Tensor:
        """The perturbation (1, 3, h, w) for ``window`` (1, 3, h, w) in [0, 255].

        ``budget`` (1, 1, h, w): per-pixel L_inf bound, zero outside the face region; ``maps``:
        each recognizer's chip-to-window map (2, 3); ``owners`` and ``decoys``: unit vectors (d,).
        """
        torch.set_flush_denormal(True)  # faster on CPU; process-wide, so set back when done (finally, below)
        mode = self.mode
        delta = torch.zeros_like(window)
        captured: dict[str, torch.Tensor] = {}
        hooks = []
        clean_features: dict[str, torch.Tensor] = {}
        if mode.feature_weight > 0:
            for recognizer in self.recognizers:
                if recognizer.name in FEATURE_LAYERS:
                    layer = FEATURE_LAYERS[recognizer.name](recognizer.model)
                    hooks.append(layer.register_forward_hook(
                        lambda _module, _inputs, output, key=recognizer.name: captured.__setitem__(key, output)))
            with torch.no_grad():
                for recognizer in self.recognizers:
                    recognizer.embed_chips(warp(window, maps[recognizer.name][None], recognizer.input_size))
                    if recognizer.name in captured:
                        clean_features[recognizer.name] = captured.pop(recognizer.name).detach()
        try:
            return self._optimize(window, budget, maps, owners, decoys, delta, captured, clean_features)
        finally:
            torch.set_flush_denormal(False)
            for hook in hooks:
                hook.remove()

    def _optimize(self, window: torch.Tensor, budget: torch.Tensor, maps: dict[str, torch.Tensor],
                  owners: dict[str, torch.Tensor], decoys: dict[str, torch.Tensor], delta: torch.Tensor,
                  captured: dict[str, torch.Tensor], clean_features: dict[str, torch.Tensor]) -> torch.Tensor:
        mode = self.mode
        step = budget * mode.step_ratio
        side_by_side = len(self.recognizers) >= SIDE_BY_SIDE_FROM
        threads_before = torch.get_num_threads()
        pool = ThreadPoolExecutor(len(self.recognizers), "bioveil-cloak", initializer=_one_thread) if side_by_side else None
        try:
            for index in range(mode.steps):
                delta.requires_grad_(True)
                transformed = self.eot.image(window + delta)
                # Crops drawn in recognizer order, before any network runs: the seeded draws do not depend on threads.
                chip_maps = {r.name: self.eot.crop(maps[r.name], r.input_size)[None] for r in self.recognizers}

                def loss_gradient(recognizer: Recognizer, transformed: torch.Tensor = transformed,
                                  chip_maps: dict[str, torch.Tensor] = chip_maps) -> tuple[torch.Tensor, float]:
                    """d loss / d transformed photo, for one recognizer (on its own leaf: threads share no graph)."""
                    name = recognizer.name
                    leaf = transformed.detach().requires_grad_(True)
                    chip = warp(leaf, chip_maps[name], recognizer.input_size)
                    embedding = F.normalize(recognizer.embed_chips(chip), dim=1)[0]
                    loss = embedding @ owners[name] - mode.decoy_weight * (embedding @ decoys[name])
                    if name in clean_features and name in captured:
                        reference = clean_features[name]
                        change = (captured.pop(name) - reference).pow(2).mean() / (reference.pow(2).mean() + 1e-12)
                        loss = loss - mode.feature_weight * change.sqrt()
                    (gradient,) = torch.autograd.grad(loss, leaf)
                    return gradient, loss.item()

                results = list(pool.map(loss_gradient, self.recognizers) if pool else map(loss_gradient, self.recognizers))
                total = torch.zeros_like(window)
                for gradient_out, _loss in results:  # through the upload-like transformation, then normalized
                    (gradient,) = torch.autograd.grad(transformed, delta, gradient_out, retain_graph=True)
                    total += gradient / (gradient.abs().mean() + 1e-12)
                with torch.no_grad():
                    delta = delta.detach() - step * total.sign()
                    delta = torch.maximum(torch.minimum(delta, budget), -budget)
                    delta = (window + delta).clamp(0, 255) - window
                if log.isEnabledFor(logging.DEBUG) and (index % 10 == 0 or index == mode.steps - 1):
                    log.debug("step %d: losses %s", index, " ".join(f"{loss:+.3f}" for _g, loss in results))
        finally:
            if pool:
                pool.shutdown()
                torch.set_num_threads(threads_before)
        return delta.detach()

    __call__ = forward
