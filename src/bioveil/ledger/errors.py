"""Errors of the audit ledger; both derive from :class:`bioveil.errors.BioveilError`."""

from __future__ import annotations

from bioveil.errors import BioveilError


class LedgerError(BioveilError, ValueError):
    """A caller's mistake with the Merkle tree: a leaf index or tree size out of range, a hash that is not 32 bytes."""


class CheckpointError(LedgerError):
    """A checkpoint that cannot be trusted: malformed, signed by an unknown key, badly signed, or with invalid fields."""
