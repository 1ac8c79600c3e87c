"""Where a cloak may change pixels and by how much: the face region, a texture-adaptive budget, a face budget.

- Region: the union of every recognizer's crop of the face (each crop is a quadrilateral in the
  photo: the chip's corners through its chip-to-photo map). Pixels outside it are never changed.
- Budget: a per-pixel L_inf bound, ``eps`` times ``clip(local 7x7 std / 10, 0.25, 1)`` of the
  luminance, so textured areas (hair, eyes, beard) take changes up to ``eps`` and flat skin a quarter
  of it, where the eye would notice.
- Face budget: the optimizer scales its perturbation back into it after every step (in torch,
  :mod:`~bioveil.cloaking.attack`), and at the end each face's perturbation is scaled by one factor, found
  by binary search, so that on the face's box grown ``FACE_GROW``x (and 10% smaller and larger, so a detector that
  finds the face again a little off still measures within the budget) the SSIM stays at or above the
  mode's floor and the mean CIEDE2000 colour difference at or below its cap. Fawkes bounds the change on
  the aligned face the same way (DSSIM 0.002 to 0.01); a whole-image floor let the face itself fall to SSIM
  0.85-0.88, a visible tint and ghost edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TEXTURE_WINDOW = 7
TEXTURE_STD = 10.0  # local std (0-255 units) at which a pixel gets the whole budget
TEXTURE_MIN = 0.25  # flattest areas still get this share of the budget
SEARCH_STEPS = 9
FACE_GROW = 1.3  # the face box grown by this is where a mode's budget is measured
GROW_SLACK = (0.9, 1.0, 1.1)  # ...and at these shares of that growth
# A codec's blocks (JPEG's 16-px MCU at most): a window aligned to them and encoded alone decodes to the same
# pixels as the whole photo encoded (for 4:2:0, a block in from the window's edges: chroma upsampling).
CODEC_BLOCK = 16


@dataclass(frozen=True)
class FaceBudget:
    """How much a cloak may change one face: SSIM at least ``ssim``, mean CIEDE2000 at most ``delta_e``."""

    ssim: float
    delta_e: float = 2.0

    def holds(self, quality: tuple[float, float]) -> bool:
        return quality[0] >= self.ssim and quality[1] <= self.delta_e


def face_window(box: Sequence[float], image_hw: tuple[int, int], grow: float = FACE_GROW) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of a face box (x1, y1, x2, y2) grown ``grow``x about its centre, clipped, x2/y2 exclusive."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, half_w, half_h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * grow / 2, (y2 - y1) * grow / 2
    height, width = image_hw
    return (max(int(np.floor(cx - half_w)), 0), max(int(np.floor(cy - half_h)), 0),
            min(int(np.ceil(cx + half_w)), width), min(int(np.ceil(cy + half_h)), height))


def worst_quality(clean: np.ndarray, cloaked: np.ndarray, box: Sequence[float]) -> tuple[float, float]:
    """The lowest SSIM and the highest mean CIEDE2000 of the face's windows (``GROW_SLACK``), for two images
    that are the face's widest window or more. Each window's SSIM is skimage's on that crop (its border of
    3 px left out), read from one SSIM map of the whole images."""
    from bioveil.cloaking.quality import delta_e_map, ssim_map

    pad = (TEXTURE_WINDOW - 1) // 2
    similarity = ssim_map(clean, cloaked).mean(axis=2)
    colour = delta_e_map(clean, cloaked)
    worst_ssim, worst_colour = 1.0, 0.0
    for share in GROW_SLACK:
        x1, y1, x2, y2 = face_window(box, clean.shape[:2], FACE_GROW * share)
        inner = similarity[y1 + pad : y2 - pad, x1 + pad : x2 - pad]
        if inner.size:
            worst_ssim = min(worst_ssim, float(inner.mean()))
        if x2 > x1 and y2 > y1:
            worst_colour = max(worst_colour, float(colour[y1:y2, x1:x2].mean()))
    return worst_ssim, worst_colour


def fit_faces(image: np.ndarray, delta: np.ndarray, owner: np.ndarray, boxes: np.ndarray, budget: FaceBudget,
              written: Callable[[np.ndarray], np.ndarray] | None = None,
              ) -> tuple[np.ndarray, list[float], list[tuple[float, float]]]:
    """The cloaked image with each face's perturbation scaled (largest factor <= 1) to ``budget``.

    ``owner`` (h, w) says which face's perturbation each pixel holds (-1: none); ``boxes`` (n, 4) are the
    faces' boxes. Returns the image, each face's scale and its (SSIM, colour difference) as measured.
    Where faces overlap, a face whose budget breaks shrinks every perturbation that reaches its windows.
    ``written``: what the output file's codec makes of pixels (e.g. a JPEG round trip); the budget is then
    measured on that, as a reader of the file sees it. It is applied to windows aligned to ``CODEC_BLOCK``
    pixels of the photo, so its blocks are the file's own."""
    if not len(boxes):  # nothing to fit: the photo as it is (a photo without faces is written unchanged)
        return image.copy(), [], []
    scales = np.zeros(len(boxes), np.float64)
    height, width = image.shape[:2]

    def cloaked_window(window: tuple[int, int, int, int]) -> np.ndarray:
        x1, y1, x2, y2 = window
        factor = np.where(owner[y1:y2, x1:x2] >= 0, scales[np.maximum(owner[y1:y2, x1:x2], 0)], 0.0)
        return apply_delta(image[y1:y2, x1:x2], delta[y1:y2, x1:x2] * factor[:, :, None].astype(np.float32))

    def quality(i: int) -> tuple[float, float]:
        outer = face_window(boxes[i], (height, width), FACE_GROW * max(GROW_SLACK))
        if written is not None:
            outer = _block_aligned(outer, (height, width))
        x1, y1, x2, y2 = outer
        clean = image[y1:y2, x1:x2]
        local = np.asarray(boxes[i], np.float64) - (x1, y1, x1, y1)
        if written is None:
            return worst_quality(clean, cloaked_window(outer), local)
        return worst_quality(clean, as_written(cloaked_window, outer, (height, width), written), local)

    def touching(i: int) -> np.ndarray:
        """The faces whose perturbation reaches into face ``i``'s widest window."""
        x1, y1, x2, y2 = face_window(boxes[i], (height, width), FACE_GROW * max(GROW_SLACK))
        present = np.unique(owner[y1:y2, x1:x2])
        return present[present >= 0]

    def fit(i: int) -> None:
        """Shrink, by one common factor, the faces reaching into face ``i``'s windows until its budget holds."""
        group, start = touching(i), scales.copy()
        if budget.holds(quality(i)) or not len(group):
            return
        low, high = 0.0, 1.0
        for _ in range(SEARCH_STEPS):
            middle = (low + high) / 2
            scales[group] = start[group] * middle
            low, high = (middle, high) if budget.holds(quality(i)) else (low, middle)
        scales[group] = start[group] * low

    # Each face at full strength, fitted in order; fitting a later face may shrink an earlier one that
    # overlaps it, and scales only go down, so a few sweeps settle (at scale 0 every budget holds).
    scales[:] = 1.0
    for _ in range(max(len(boxes), 1) + 1):
        broken = [i for i in range(len(boxes)) if not budget.holds(quality(i))]
        if not broken:
            break
        for i in broken:
            fit(i)
    figures = [quality(i) for i in range(len(boxes))]
    factor = np.where(owner >= 0, scales[np.maximum(owner, 0)], 0.0).astype(np.float32)
    return apply_delta(image, delta * factor[:, :, None]), scales.tolist(), figures


def as_written(pixels: Callable[[tuple[int, int, int, int]], np.ndarray], window: tuple[int, int, int, int],
               image_hw: tuple[int, int], written: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``window`` of a photo as its file holds it once ``written`` (a codec's round trip), from ``pixels(w)``, the
    photo's pixels in a window ``w``: the codec runs on a block-aligned window one block wider all round (chroma
    is upsampled across block edges), so it sees the blocks the whole photo's encoding sees."""
    x1, y1, x2, y2 = window
    wide = _block_aligned((x1 - CODEC_BLOCK, y1 - CODEC_BLOCK, x2 + CODEC_BLOCK, y2 + CODEC_BLOCK), image_hw)
    decoded = written(pixels(wide))
    return decoded[y1 - wide[1] : y2 - wide[1], x1 - wide[0] : x2 - wide[0]]


def codec_cost(image: np.ndarray, box: Sequence[float], written: Callable[[np.ndarray], np.ndarray]) -> float:
    """What the codec alone takes from a face's SSIM (the worst of its windows): 1 - SSIM of the clean face
    against the clean face written."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = _block_aligned(face_window(box, (height, width), FACE_GROW * max(GROW_SLACK)), (height, width))
    local = np.asarray(box, np.float64) - (x1, y1, x1, y1)
    decoded = as_written(lambda w: image[w[1] : w[3], w[0] : w[2]], (x1, y1, x2, y2), (height, width), written)
    return max(0.0, 1.0 - worst_quality(image[y1:y2, x1:x2], decoded, local)[0])


def _block_aligned(window: tuple[int, int, int, int], image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``window`` grown outwards to multiples of ``CODEC_BLOCK`` (clipped to the image)."""
    x1, y1, x2, y2 = (max(window[0], 0), max(window[1], 0), window[2], window[3])
    height, width = image_hw
    block = CODEC_BLOCK
    return (x1 // block * block, y1 // block * block, min(-(-x2 // block) * block, width),
            min(-(-y2 // block) * block, height))


def crop_quad(chip_to_image: np.ndarray, size: int) -> np.ndarray:
    """The photo coordinates (4, 2) of a chip's corners."""
    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [size - 1, size - 1, 1], [0, size - 1, 1]], np.float64)
    return corners @ np.asarray(chip_to_image, np.float64).T


def region_mask(shape_hw: tuple[int, int], quads: list[np.ndarray]) -> np.ndarray:
    """Boolean mask (h, w) of the union of the quadrilaterals (each (4, 2) photo coordinates)."""
    import cv2

    mask = np.zeros(shape_hw, np.uint8)
    for quad in quads:
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    return mask.astype(bool)


def bounding_window(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of ``mask``'s true pixels grown by ``margin``, clipped to the image (x2, y2 exclusive)."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    if not len(xs):
        return 0, 0, 0, 0
    return (max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0),
            min(int(xs.max()) + 1 + margin, width), min(int(ys.max()) + 1 + margin, height))


def texture_budget(image: np.ndarray, eps: float) -> np.ndarray:
    """Per-pixel L_inf budget (h, w) in 0-255 units for the RGB uint8 ``image``."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float64)
    window = (TEXTURE_WINDOW, TEXTURE_WINDOW)
    mean = cv2.blur(gray, window)
    std = np.sqrt(np.maximum(cv2.blur(gray * gray, window) - mean * mean, 0.0))
    return (eps * np.clip(std / TEXTURE_STD, TEXTURE_MIN, 1.0)).astype(np.float32)


def apply_delta(image: np.ndarray, delta: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``image + scale * delta`` rounded to uint8."""
    return np.clip(np.rint(image.astype(np.float32) + scale * delta), 0, 255).astype(np.uint8)
