"""Errors of the vault, its grants and its service."""

from __future__ import annotations

from bioveil.errors import BioveilError


class VaultError(BioveilError):
    """Something the vault refused or could not do; the message says what to do."""


class VaultCryptoError(VaultError):
    """A key, signature or sealed blob that does not open: a wrong passphrase, a wrong key or damaged data."""


class GrantError(VaultError):
    """A grant token that is forged, malformed, expired, not yet valid or for someone else."""


class EnrolmentError(VaultError):
    """Enrolment photos that do not make a good template (no face, several faces, different people...)."""


class ServiceError(VaultError):
    """The vault service answered with an error; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"the vault service refused ({status}): {message}")
