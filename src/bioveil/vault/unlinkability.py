"""Unlinkability of protected templates: Gomez-Barrero et al.'s D<->sys (IEEE TIFS 2018).

Scores between templates made under two different keys: *mated* when both come from the same person,
*non-mated* otherwise. If the two score distributions differ, an attacker holding two databases can
tell which templates belong to the same person. With LR(s) = f_mated(s) / f_non-mated(s) and the
prior ratio omega, the local measure is D<->(s) = max(0, 2 omega LR(s) / (1 + omega LR(s)) - 1), and
the system measure its mean over the mated scores, D<->sys = integral of D<->(s) f_mated(s) ds: 0 is
fully unlinkable, 1 fully linkable.

Densities are histograms on ``bins`` equal-width bins spanning the range of both score sets (100 by
default, as in the authors' reference code). A bin with mated scores and no non-mated score has
LR = infinity, so D<->(s) = 1 there; bins empty in both sets do not count. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioveil.errors import InvalidOptionError

DEFAULT_BINS = 100
MIN_COUNT = 10  # scores of each set a bin needs for ``d_max_supported``


@dataclass(frozen=True)
class Unlinkability:
    """D<->sys; the largest local D<->(s) over bins holding mated scores (``d_max``: a few scores in a tail bin
    can push it up), and over bins holding at least ``min_count`` scores of each set (``d_max_supported``)."""

    d_sys: float
    d_max: float
    d_max_supported: float
    bins: int
    min_count: int
    mated: int
    non_mated: int

    def to_dict(self) -> dict[str, float | int]:
        return {"d_sys": self.d_sys, "d_max": self.d_max, "d_max_supported": self.d_max_supported, "bins": self.bins,
                "min_count": self.min_count, "mated": self.mated, "non_mated": self.non_mated}


def local_linkability(mated_density: np.ndarray, non_mated_density: np.ndarray, omega: float = 1.0) -> np.ndarray:
    """D<->(s) per bin from the two densities (same bins); infinity LR where only mated scores fall gives 1."""
    mated_density = np.asarray(mated_density, np.float64)
    non_mated_density = np.asarray(non_mated_density, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = omega * mated_density / non_mated_density
        local = np.where(np.isinf(ratio), 1.0, 2 * ratio / (1 + ratio) - 1)
    return np.clip(np.nan_to_num(local, nan=0.0), 0.0, 1.0)


def unlinkability(mated: np.ndarray, non_mated: np.ndarray, bins: int = DEFAULT_BINS, omega: float = 1.0,
                  min_count: int = MIN_COUNT) -> Unlinkability:
    """D<->sys and max D<->(s) of mated and non-mated scores (any score scale)."""
    mated = np.asarray(mated, np.float64).ravel()
    non_mated = np.asarray(non_mated, np.float64).ravel()
    if len(mated) == 0 or len(non_mated) == 0:
        raise InvalidOptionError(f"unlinkability needs mated and non-mated scores, got {len(mated)} and {len(non_mated)}")
    if bins < 2:
        raise InvalidOptionError(f"unlinkability needs at least 2 bins, got {bins}")
    low = min(mated.min(), non_mated.min())
    high = max(mated.max(), non_mated.max())
    if high <= low:
        high = low + 1.0  # every score equal: one occupied bin, identical densities
    edges = np.linspace(low, high, bins + 1)
    mated_count = np.histogram(mated, edges)[0]
    non_mated_count = np.histogram(non_mated, edges)[0]
    mated_mass = mated_count / len(mated)
    local = local_linkability(mated_mass, non_mated_count / len(non_mated), omega)  # equal widths: mass ratio = density ratio
    supported = (mated_count >= min_count) & (non_mated_count >= min_count)
    return Unlinkability(
        d_sys=float((local * mated_mass).sum()),
        d_max=float(local[mated_count > 0].max()),
        d_max_supported=float(local[supported].max()) if supported.any() else float("nan"),
        bins=bins,
        min_count=min_count,
        mated=len(mated),
        non_mated=len(non_mated),
    )
