"""Encrypted matching with CKKS (TenSEAL): a verifier scores a probe against a template it cannot read.

The person (or their vault) holds the secret context: it encrypts the enrolled unit embedding and
decrypts scores. The verifier holds only the public context (no secret key) and the ciphertext; it
multiplies the ciphertext by a probe embedding and sums (an encrypted cosine), and sends the
encrypted score back. The verifier sees the probe in the clear (it computed it), never the enrolled
embedding; the decrypting side sees only the score. CKKS is approximate: scores carry an error of
about 1e-6 at the default parameters (``bench/vault_templates.py`` measures it with the sizes and times).

Optional: needs ``pip install tenseal==0.3.18``; tenseal is imported inside the functions only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from bioveil.errors import MissingDependencyError

log = logging.getLogger(__name__)

POLY_MODULUS_DEGREE = 8192  # 128-bit security for the 200-bit modulus chain below
COEFF_MOD_BIT_SIZES = (60, 40, 40, 60)
SCALE_BITS = 40


def _tenseal() -> Any:
    try:
        import tenseal
    except ImportError as exc:
        raise MissingDependencyError("encrypted template matching", "pip install tenseal==0.3.18") from exc
    return tenseal


def _unit(embedding: np.ndarray) -> list[float]:
    from bioveil.vault.templates import unit_rows

    return unit_rows(np.asarray(embedding)[None])[0].tolist()


def make_context(poly_modulus_degree: int = POLY_MODULUS_DEGREE) -> Any:
    """A fresh CKKS context with its secret key: the person's side. Keep it private."""
    ts = _tenseal()
    context = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree, coeff_mod_bit_sizes=list(COEFF_MOD_BIT_SIZES))
    context.global_scale = 2**SCALE_BITS
    context.generate_galois_keys()  # the verifier's sum over slots needs rotations
    return context


def public_context(context: Any) -> bytes:
    """The context without its secret key: what a verifier receives."""
    return bytes(context.serialize(save_secret_key=False))


def load_context(data: bytes) -> Any:
    """A context from :func:`public_context`'s bytes (deserialise once: it is tens of megabytes)."""
    return _tenseal().context_from(data)


def encrypt_template(context: Any, embedding: np.ndarray) -> bytes:
    """The enrolled embedding, unit length, encrypted: the template a verifier stores."""
    ts = _tenseal()
    return bytes(ts.ckks_vector(context, _unit(embedding)).serialize())


def encrypted_score(server_context: bytes | Any, template: bytes, probe: np.ndarray) -> bytes:
    """The verifier's side: the encrypted cosine of ``template`` with a probe embedding (any norm).

    ``server_context`` is the public context, as bytes or as :func:`load_context` returned it.
    """
    ts = _tenseal()
    context = ts.context_from(server_context) if isinstance(server_context, bytes | bytearray) else server_context
    vector = ts.ckks_vector_from(context, template)
    return bytes(vector.dot(_unit(probe)).serialize())


def decrypt_score(context: Any, score: bytes) -> float:
    """The person's side: the cosine similarity inside an encrypted score."""
    ts = _tenseal()
    return float(ts.ckks_vector_from(context, score).decrypt()[0])
