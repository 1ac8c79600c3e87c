"""A built wheel carries the page: build it, install it in a fresh venv, and start the app from there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.app.running import started_cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_starts_from_an_installed_wheel(tmp_path: Path) -> None:
    tree = tmp_path / "tree"  # a copy of what a wheel is built from, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(tree)]
    subprocess.run(build, check=True, capture_output=True)
    wheel = next(wheels.glob("bioveil-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    # The dependencies come from the test environment (on the path after the fresh venv's own packages).
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([str(python), "-c", "import bioveil.app; print(bioveil.app.__file__)"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not the checkout's

    with started_cli([str(venv / "bin" / "bioveil"), "app", "--no-browser"], tmp_path / "cache") as app:
        page = app.client.get(app.base + "/")
        assert page.status_code == 200 and "<title>bioveil</title>" in page.text
        script = app.client.get(app.base + "/static/app.js")
        assert script.status_code == 200
        assert script.content == (Path(where).parent / "static" / "app.js").read_bytes()
