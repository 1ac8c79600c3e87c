"""The cloak's optimization: projected gradient descent against an ensemble of recognizers.

In the style of torchattacks' ``PGD``: hyperparameters in ``__init__`` (one table of modes below),
the maths in :meth:`EnsemblePGD.forward`. Each step draws an upload-like transformation (EOT, see
:mod:`bioveil.cloaking.robustness`), cuts every recognizer's chip from the perturbed photo with a
differentiable affine warp (jittered), and descends on, per recognizer,
``cos(embedding, owner) - decoy_weight * cos(embedding, decoy) - feature_weight * feature_change``,
where ``feature_change`` is the relative RMS change of a mid-network activation (see
``FEATURE_LAYERS``) from the clean face's: moving those shared, generic features is what transfers
to recognizers outside the ensemble (leave-one-out SFace PSR rose from 0.75 to 0.90 with it on 20
LFW people). Each recognizer's gradient is normalized separately before they are summed, with the
weights of ``GRADIENT_WEIGHTS`` (unnormalized, FaceNet's dominates and dlib barely moves). The step
follows that gradient weighted by what SSIM tolerates at each pixel (``step_kind`` "ssim", the default
since Dec 3): to first order, the direction that lowers the loss most for a given loss of SSIM. L_inf PGD's
signed step ("sign") spends the budget evenly on pixels the loss hardly depends on; at the face budget of
``high``, on 11 LFW people of a tuning set, it left the owner the top match in 73% (dlib) and 91%
(FaceNet) of the cloaked photos, the SSIM step in 9% and 27%; SFace stayed the owner's for both
(BENCHMARKS.md). The perturbation is then clipped to the per-pixel bound and the valid pixel range
and scaled back into the face's SSIM budget. No momentum: under an SSIM budget it saturates every pixel.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from bioveil.cloaking import quality
from bioveil.cloaking.budget import FaceBudget
from bioveil.cloaking.lanes import one_torch_thread
from bioveil.cloaking.projection import FaceProjection
from bioveil.cloaking.robustness import EOT, gaussian_blur
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
    face_ssim: float  # the budget on each face (bioveil.cloaking.budget): SSIM at least this...
    feature_weight: float = 0.0  # weight of the mid-network feature loss (transfer to unseen recognizers)
    delta_e: float = 2.0  # ...and mean CIEDE2000 at most this
    visible: bool = False  # a budget past what Fawkes allows: the change shows, and the user is warned
    # Components of the perturbation beyond the full-resolution one: each lives at 1/k of the window's size (k in
    # ``scales``), is upsampled bilinearly and added, with an L_inf bound of ``coarse_eps`` (0-255 units). SSIM
    # barely sees a change that is smooth over its 7x7 windows, and downscaling keeps it.
    scales: tuple[int, ...] = ()
    coarse_eps: float = 4.0
    # Translation-invariant gradients: the gradient is smoothed by a Gaussian of this sigma (in 112-px chip pixels,
    # scaled to the window) before its sign is taken. 0: off.
    smooth_sigma: float = 0.0
    # "sign": the signed step of L_inf PGD; "ssim": a step along the gradient weighted by what SSIM tolerates at
    # each pixel (twice its local variance plus SSIM's C2: first-order, the direction that changes the loss most
    # for a given SSIM), of RMS ``ssim_step`` (0-255 units) over the face region.
    step_kind: str = "ssim"
    ssim_step: float = 1.0
    gradient_weights: tuple[tuple[str, float], ...] = (("sface", 2.0),)  # see GRADIENT_WEIGHTS

    @property
    def budget(self) -> FaceBudget:
        return FaceBudget(self.face_ssim, self.delta_e)


# Budgets at Fawkes' levels (DSSIM = (1 - SSIM) / 2 on the face: low 0.003, mid 0.005, high 0.008), measured
# on each face's box grown 1.3x; ``visible`` is bioveil 0.1's loose budget (its face SSIM was 0.85-0.88).
_ATTACK = {"steps": 30, "step_ratio": 0.10, "eot": True, "decoy_weight": 0.5, "feature_weight": 1.0}
MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("low", eps=16.0, face_ssim=0.994, **_ATTACK),
        Mode("mid", eps=16.0, face_ssim=0.99, **_ATTACK),
        Mode("high", eps=16.0, face_ssim=0.984, **_ATTACK),
        Mode("visible", eps=16.0, face_ssim=0.88, delta_e=6.0, visible=True, **_ATTACK),
    )
}
DEFAULT_MODE = "high"
# bioveil 0.1's modes (a whole-photo SSIM of 0.953, which let the face fall to 0.85-0.88): what they became.
RENAMED_MODES = {"fast": "visible", "balanced": "visible", "strong": "visible"}

# Each recognizer's normalized gradient counts once, but SFace's twice: it was the one left least fooled
# after downscaling by 2. On 40 LFW people in neither the tuning nor the validation set (67 faces), PSR of
# SFace through onnxruntime after downscaling went from 0.88 to 0.97 with it (0.93 to 0.97 for bioveil's
# port), dlib C++ and FaceNet unchanged; a weight that followed each recognizer's margin to its threshold
# step by step did worse (0.82). See BENCHMARKS.md.
GRADIENT_WEIGHTS: dict[str, float] = dict(Mode.gradient_weights)

# With this many recognizers or more, their forward and backward passes run side by side on threads with one
# intra-op thread each, instead of one after another with all threads: small batch-1 convolutions use two cores
# poorly. Measured on 2 cores, per step: all three 116 ms side by side against 155 ms in turn; but a pair
# is slower side by side (dlib + SFace 72 against 62 ms, FaceNet + dlib 106 against 96): the larger network
# sets the pace.
SIDE_BY_SIDE_FROM = 3
# Side by side, the costliest network gets a thread of its own and the others run in turn on a second one, so
# two threads share two cores. A lone face, 4 LFW photos, balanced, four runs each, alternating, on 2 cores:
# 5.62, 5.44, 5.74 and 5.82 s a face, against 6.78, 6.42, 6.11 and 5.92 with a thread per network (10% less
# on average; the machine drifted between the pairs). The cloak is the same: each network still runs on one
# thread, and the gradients are summed in recognizer order.
ALONE = "facenet"


def _middle(sequence: Any) -> Any:
    items = list(sequence.values()) if hasattr(sequence, "values") else list(sequence)
    return items[len(items) // 2]


# Where each recognizer's mid-network features are read for the feature loss (by recognizer name).
FEATURE_LAYERS: dict[str, Callable[[torch.nn.Module], torch.nn.Module]] = {
    "dlib": lambda model: _middle(model.blocks),
    "facenet": lambda model: model.repeat1,
    "sface": lambda model: _middle(model.blocks),
}


def _ssim_tolerance(window: torch.Tensor) -> torch.Tensor:
    """(1, 1, h, w): twice the local 7x7 variance of the luminance plus SSIM's C2, relative to its mean: where a
    change of the same size costs SSIM least (textured pixels), the weight is largest."""
    gray = window.mean(dim=1, keepdim=True)
    mean = F.avg_pool2d(F.pad(gray, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
    square = F.avg_pool2d(F.pad(gray * gray, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
    weight = 2 * (square - mean * mean).clamp(min=0) + (quality.K2 * quality.DATA_RANGE) ** 2
    return weight / weight.mean()


class _FeatureTap:
    """The mid-network activations (``FEATURE_LAYERS``) of the forward passes this thread runs inside
    :meth:`watching`. Kept per thread: faces cloaked side by side run the same recognizer modules, and a
    module's hook fires for every thread that runs it."""

    def __init__(self, recognizers: Sequence[Recognizer]) -> None:
        self._local = threading.local()
        self.names = [r.name for r in recognizers if r.name in FEATURE_LAYERS]
        self._hooks = [FEATURE_LAYERS[r.name](r.model).register_forward_hook(partial(self._keep, r.name))
                       for r in recognizers if r.name in FEATURE_LAYERS]

    def _keep(self, name: str, _module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        seen = getattr(self._local, "seen", None)
        if seen is not None:
            seen[name] = output

    @contextmanager
    def watching(self) -> Iterator[dict[str, torch.Tensor]]:
        self._local.seen = seen = {}
        try:
            yield seen
        finally:
            self._local.seen = None

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


def _workers(recognizers: Sequence[Recognizer]) -> list[list[Recognizer]]:
    """Who runs on which side-by-side thread: ``ALONE`` on its own and the rest in turn, when it is among
    three or more; else one thread each."""
    alone = [r for r in recognizers if r.name == ALONE]
    rest = [r for r in recognizers if r.name != ALONE]
    return [alone, rest] if alone and len(rest) >= 2 else [[r] for r in recognizers]


def get_mode(name: str | Mode) -> Mode:
    if isinstance(name, Mode):
        return name
    if name in RENAMED_MODES:
        raise UnknownNameError(f"cloak mode (bioveil 0.1's {name!r} changed the face visibly; its budget is now "
                               f"{RENAMED_MODES[name]!r}, the default is {DEFAULT_MODE!r})", name, list(MODES))
    if name not in MODES:
        raise UnknownNameError("cloak mode", name, list(MODES))
    mode = MODES[name]
    if mode.visible:
        log.warning("cloak mode %r changes faces visibly (face SSIM down to %.2f); %r is the default", mode.name,
                    mode.face_ssim, DEFAULT_MODE)
    return mode


class EnsemblePGD:
    """Signed-gradient PGD on a photo window, against several recognizers at once."""

    def __init__(self, recognizers: Sequence[Recognizer], mode: Mode, generator: torch.Generator,
                 side_by_side: bool | None = None) -> None:
        """``side_by_side``: the recognizers on two threads or more within a step (see ``ALONE``); by default from
        ``SIDE_BY_SIDE_FROM`` recognizers. Off where faces already run side by side (see
        :mod:`bioveil.cloaking.lanes`)."""
        self.recognizers = list(recognizers)
        self.mode = mode
        self.generator = generator
        self.side_by_side = len(self.recognizers) >= SIDE_BY_SIDE_FROM if side_by_side is None else side_by_side
        self.eot = EOT(generator, enabled=mode.eot)
        for recognizer in self.recognizers:
            recognizer.model.eval()

    def forward(self, window: torch.Tensor, budget: torch.Tensor, maps: dict[str, torch.Tensor],
                owners: dict[str, torch.Tensor], decoys: dict[str, torch.Tensor],
                face_windows: Sequence[tuple[int, int, int, int]] = (), ssim_floor: float | None = None) -> torch.Tensor:
        """The perturbation (1, 3, h, w) for ``window`` (1, 3, h, w) in [0, 255].

        ``budget`` (1, 1, h, w): per-pixel L_inf bound, zero outside the face region; ``maps``:
        each recognizer's chip-to-window map (2, 3); ``owners`` and ``decoys``: unit vectors (d,);
        ``face_windows``: where the mode's face SSIM is measured (x1, y1, x2, y2 in the window): after
        every step the perturbation is scaled back into it, so the steps search within the budget;
        ``ssim_floor``: the SSIM kept there (default: the mode's), higher where the output's codec takes its share.
        """
        torch.set_flush_denormal(True)  # faster on CPU; per thread, and set back when done (finally, below)
        tap = _FeatureTap(self.recognizers if self.mode.feature_weight > 0 else ())
        clean_features: dict[str, torch.Tensor] = {}
        try:
            if tap.names:
                with torch.no_grad(), tap.watching() as seen:
                    for recognizer in self.recognizers:
                        recognizer.embed_chips(warp(window, maps[recognizer.name][None], recognizer.input_size))
                clean_features = {name: output.detach() for name, output in seen.items()}
            return self._optimize(window, budget, maps, owners, decoys, tap, clean_features, face_windows,
                                  self.mode.face_ssim if ssim_floor is None else ssim_floor)
        finally:
            torch.set_flush_denormal(False)
            tap.close()

    def _optimize(self, window: torch.Tensor, budget: torch.Tensor, maps: dict[str, torch.Tensor],
                  owners: dict[str, torch.Tensor], decoys: dict[str, torch.Tensor], tap: _FeatureTap,
                  clean_features: dict[str, torch.Tensor], face_windows: Sequence[tuple[int, int, int, int]],
                  ssim_floor: float) -> torch.Tensor:
        mode = self.mode
        step = budget * mode.step_ratio
        height, width = window.shape[-2:]
        inside = (budget > 0).to(window.dtype)
        delta = torch.zeros_like(window)
        coarse = [torch.zeros((1, 3, -(-height // k), -(-width // k)), dtype=window.dtype) for k in mode.scales]
        sigma = mode.smooth_sigma * width / 112
        tolerance = _ssim_tolerance(window) * inside if mode.step_kind == "ssim" else None
        weights = dict(mode.gradient_weights)

        def compose(fine: torch.Tensor, parts: Sequence[torch.Tensor]) -> torch.Tensor:
            """The whole perturbation: ``fine`` plus each coarse component upsampled, within the face region."""
            for part in parts:
                fine = fine + F.interpolate(part, size=(height, width), mode="bilinear", align_corners=False) * inside
            return fine

        projection = FaceProjection(window, face_windows) if face_windows else None
        side_by_side = self.side_by_side
        threads_before = torch.get_num_threads()
        workers = _workers(self.recognizers)
        pool = ThreadPoolExecutor(len(workers), "bioveil-cloak", initializer=one_torch_thread) if side_by_side else None
        try:
            for index in range(mode.steps):
                leaves = [delta.requires_grad_(True), *(part.requires_grad_(True) for part in coarse)]
                transformed = self.eot.image(window + compose(delta, coarse))
                # Crops drawn in recognizer order, before any network runs: the seeded draws do not depend on threads.
                chip_maps = {r.name: self.eot.crop(maps[r.name], r.input_size)[None] for r in self.recognizers}

                def loss_gradient(recognizer: Recognizer, transformed: torch.Tensor = transformed,
                                  chip_maps: dict[str, torch.Tensor] = chip_maps) -> tuple[torch.Tensor, float]:
                    """d loss / d transformed photo, for one recognizer (on its own leaf: threads share no graph)."""
                    name = recognizer.name
                    leaf = transformed.detach().requires_grad_(True)
                    chip = warp(leaf, chip_maps[name], recognizer.input_size)
                    with tap.watching() as seen:
                        embedding = F.normalize(recognizer.embed_chips(chip), dim=1)[0]
                    loss = embedding @ owners[name] - mode.decoy_weight * (embedding @ decoys[name])
                    if name in clean_features and name in seen:
                        reference = clean_features[name]
                        change = (seen[name] - reference).pow(2).mean() / (reference.pow(2).mean() + 1e-12)
                        loss = loss - mode.feature_weight * change.sqrt()
                    (gradient,) = torch.autograd.grad(loss, leaf)
                    return gradient, loss.item()

                if pool:
                    done = {r.name: out for group in pool.map(lambda group: [(r, loss_gradient(r)) for r in group], workers)
                            for r, out in group}
                    results = [done[r.name] for r in self.recognizers]
                else:
                    results = [loss_gradient(r) for r in self.recognizers]
                totals = [torch.zeros_like(leaf) for leaf in leaves]
                for recognizer, (gradient_out, _loss) in zip(self.recognizers, results, strict=True):
                    # through the upload-like transformation, then normalized and weighted
                    gradients = torch.autograd.grad(transformed, leaves, gradient_out, retain_graph=True)
                    weight = weights.get(recognizer.name, 1.0)
                    for total, gradient in zip(totals, gradients, strict=True):
                        total += weight * gradient / (gradient.abs().mean() + 1e-12)
                with torch.no_grad():
                    if sigma > 0:
                        totals[0] = gaussian_blur(totals[0], sigma)
                    if tolerance is None:
                        delta = delta.detach() - step * totals[0].sign()
                    else:
                        direction = totals[0] * tolerance
                        rms = direction.pow(2).sum().div(inside.sum() * 3 + 1e-12).sqrt()
                        delta = delta.detach() - mode.ssim_step * direction / (rms + 1e-12)
                    delta = torch.maximum(torch.minimum(delta, budget), -budget)
                    coarse = [(part.detach() - mode.coarse_eps * mode.step_ratio * total.sign())
                              .clamp(-mode.coarse_eps, mode.coarse_eps) for part, total in zip(coarse, totals[1:], strict=True)]
                    smooth = compose(torch.zeros_like(window), coarse)
                    delta = (window + smooth + delta).clamp(0, 255) - window - smooth
                    if projection is not None:
                        share = projection.scale(delta + smooth, ssim_floor)
                        delta, coarse = delta * share, [part * share for part in coarse]
                if log.isEnabledFor(logging.DEBUG) and (index % 10 == 0 or index == mode.steps - 1):
                    log.debug("step %d: losses %s", index, " ".join(f"{loss:+.3f}" for _g, loss in results))
        finally:
            if pool:
                pool.shutdown()
                torch.set_num_threads(threads_before)
        with torch.no_grad():
            return compose(delta.detach(), [part.detach() for part in coarse])

    __call__ = forward
