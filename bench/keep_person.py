"""``mask --keep-person``: how often a stranger's face is wrongly kept unmasked, and how often the person's own are.

All of LFW through the audit's detector and SFace (``bench/lfw_faces.py``, the scan's cache): every person with
at least 4 embedded photos gives ``--refs`` reference photos (their first ones) and the rest as their own faces;
every other face of LFW (other people and the 690 distractors) is a stranger to them. A face is kept when its
SFace similarity to the nearest reference reaches the cut.

The cut is set on half of the people (even places in name order) for at most ``--rate`` strangers' faces kept,
then measured on the other half, which it never saw; the frontier (kept own / kept strangers at other cuts)
is printed for both halves.

    .venv/bin/python bench/keep_person.py [--refs 3] [--rate 0.001] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bioveil.masking.keep import KEEP_SIMILARITY
from lfw_faces import lfw_embeddings

CUTS = (0.363, 0.45, 0.5, 0.55, 0.6, 0.65)


def trials(embeddings: np.ndarray, truth: np.ndarray, people: list[str], refs: int) -> tuple[np.ndarray, np.ndarray]:
    """Similarity to the nearest reference: of every stranger's face (to each person), of each person's own other faces."""
    strangers, own = [], []
    for person in people:
        mine = np.flatnonzero(truth == person)
        reference = embeddings[mine[:refs]]
        others = embeddings[truth != person]
        strangers.append((others @ reference.T).max(axis=1))
        own.append((embeddings[mine[refs:]] @ reference.T).max(axis=1))
    return np.concatenate(strangers), np.concatenate(own)


def cut_for(strangers: np.ndarray, rate: float) -> float:
    """The lowest cut (to 3 decimals) at which at most ``rate`` of the strangers' faces reach it."""
    ordered = np.sort(strangers)[::-1]
    allowed = int(np.floor(rate * len(ordered)))
    return float(np.ceil(ordered[allowed] * 1000 + 1e-9) / 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", type=int, default=3, help="reference photos a person gives (default 3)")
    parser.add_argument("--rate", type=float, default=0.001, help="strangers' faces kept at most (default 1 in 1,000)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    faces = lfw_embeddings("sface")
    embeddings = faces.embeddings / np.linalg.norm(faces.embeddings, axis=1, keepdims=True)
    names, counts = np.unique(faces.truth, return_counts=True)
    people = [str(name) for name, count in zip(names, counts, strict=True)
              if count >= args.refs + 1 and not str(name).startswith("distractor:")]
    halves = {"A (sets the cut)": people[0::2], "B (never seen)": people[1::2]}
    print(f"LFW: {len(embeddings)} embedded faces ({faces.missing} photos without one), {len(people)} people with "
          f">= {args.refs + 1} photos, {args.refs} references each")
    scores = {half: trials(embeddings, faces.truth, group, args.refs) for half, group in halves.items()}
    strangers_a, _ = scores["A (sets the cut)"]
    cut = cut_for(strangers_a, args.rate)
    print(f"cut for <= {args.rate:g} strangers kept on half A: {cut:.3f} (shipped KEEP_SIMILARITY: {KEEP_SIMILARITY})\n")
    print("| half | people | strangers' faces | own faces | cut | strangers kept | own kept |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    out: dict = {"refs": args.refs, "rate": args.rate, "cut": cut, "shipped": KEEP_SIMILARITY, "rows": []}
    for half, (strangers, own) in scores.items():
        for value in sorted({*CUTS, cut, KEEP_SIMILARITY}):
            far, tar = float((strangers >= value).mean()), float((own >= value).mean())
            mark = " **" if value == KEEP_SIMILARITY else ""
            print(f"| {half} | {len(halves[half])} | {len(strangers)} | {len(own)} | {value:.3f}{mark} | "
                  f"{far:.5f} ({int((strangers >= value).sum())}) | {tar:.4f} |")
            out["rows"].append({"half": half, "cut": value, "strangers kept": far, "own kept": tar,
                                "strangers": len(strangers), "own": len(own)})
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
