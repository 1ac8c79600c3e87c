"""Adversarial face cloaking: small perturbations, bounded on each face, that make recognizers miss the owner.

Follow one photo: :mod:`~bioveil.cloaking.photo` finds each face's region (the union of the
recognizers' crops) and clean embeddings, :mod:`~bioveil.cloaking.decoys` picks where to push each
person, :mod:`~bioveil.cloaking.budget` bounds the change per pixel, :mod:`~bioveil.cloaking.attack`
optimizes it through :mod:`~bioveil.cloaking.robustness`'s upload-like transformations, within the
mode's face budget (SSIM and colour on the face, kept after every step and fitted at the end).
:mod:`~bioveil.cloaking.batch` runs that over files. Needs torch
(``pip install bioveil[recognition]``).
"""

from __future__ import annotations

from bioveil.cloaking.attack import DEFAULT_MODE, MODES, Mode
from bioveil.cloaking.decoys import DecoyKind
from bioveil.cloaking.photo import CloakResult, FaceCloak, cloak_pixels, load_recognizers

__all__ = ["DEFAULT_MODE", "MODES", "CloakResult", "DecoyKind", "FaceCloak", "Mode", "cloak_pixels", "load_recognizers"]
