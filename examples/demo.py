"""`make demo`: mask the faces in sample photos that ship with scikit-image, and say where the results are.

The inputs are real photos (scikit-image's astronaut and cameraman), one given GPS and camera
EXIF as a phone would write it, so the demo shows both the masking and the metadata stripping.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image
from skimage import data

from bioveil.cli.main import main

ROOT = Path(__file__).resolve().parents[1] / "demo-output"


def sample_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x013B] = "DemoPhone", "Model 7", "Jane Photographer"  # make, model, artist
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})  # a street in Paris
    Image.fromarray(data.astronaut()).save(folder / "astronaut.jpg", exif=exif.tobytes(), quality=92)
    Image.fromarray(data.camera()).save(folder / "cameraman.png")


def main_demo() -> int:
    inputs, outputs, report = ROOT / "input", ROOT / "masked", ROOT / "report.json"
    sample_inputs(inputs)
    code = main(["mask", str(inputs), "-o", str(outputs), "--json", str(report)])
    files = json.loads(report.read_text())["files"]
    print(f"\ninputs:  {inputs}")
    for entry in files:
        print(f"output:  {entry['output']}  ({len(entry['faces'])} face(s) masked, metadata stripped)")
    print(f"report:  {report}")
    return code


if __name__ == "__main__":
    sys.exit(main_demo())
