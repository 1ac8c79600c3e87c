"""Every error bioveil raises derives from :class:`BioveilError`.

Messages say what was expected, what came, and what to do about it.
"""

from __future__ import annotations


class BioveilError(Exception):
    """Base class of all bioveil errors."""


class UnknownNameError(BioveilError, ValueError):
    """A detector, masker or option name that bioveil does not know."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(self.valid)}")


class InvalidOptionError(BioveilError, ValueError):
    """An option value out of its range (e.g. a mask scale of 0)."""


class MissingDependencyError(BioveilError, ImportError):
    """An optional package needed for this feature is not installed."""

    def __init__(self, what: str, pip_command: str) -> None:
        super().__init__(f"{what} needs a package that is not installed; install it with: {pip_command}")


class MediaError(BioveilError):
    """A file that could not be read or written. ``path`` names it."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class EmptyFileError(MediaError):
    """The file has zero bytes."""


class UnsupportedFormatError(MediaError):
    """The content is not an image (or video) format bioveil reads."""


class NoVideoStreamError(UnsupportedFormatError):
    """A media file with no video stream (audio only, for example)."""


class CorruptMediaError(MediaError):
    """The file claims a known format but its data is broken or truncated."""


class ImageTooLargeError(MediaError):
    """The image has more pixels than the configured limit (a decompression bomb guard)."""


class UnreadableInputError(MediaError):
    """The file or folder exists but cannot be opened (permissions, a broken link, ...)."""


class OutputError(MediaError):
    """The output could not be written, or would overwrite an input."""


class UnexpectedError(MediaError):
    """Processing one file failed in a way bioveil does not foresee: a bug to report. The batch goes on."""

    @classmethod
    def wrap(cls, path: object, exc: BaseException) -> UnexpectedError:
        return cls(path, f"failed unexpectedly ({type(exc).__name__}: {exc}); please report it")


class ModelFileError(BioveilError, ValueError):
    """A model file that is damaged or not the version bioveil reads; reinstall the package that ships it."""


class ManifestError(MediaError):
    """A batch's manifest (``OUTDIR/.bioveil/manifest.sqlite``) cannot be opened, read or written."""


class EngineError(BioveilError):
    """The engine a batch runs on (``--engine ray``) cannot be reached or lost its workers for good.

    What finished before is recorded in the manifest: running the same command again resumes."""
