"""LFW's pairs protocol: the file format, its errors, and a real run of the three recognizers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bioveil.cli.main import main
from bioveil.evaluation.pairs import PairsFormatError, read_pairs


def test_read_pairs_with_lfw_header(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t1\nAnn 1 2\nAnn 1 Bob 3\nCid 2 4\nDee 1 Eve 1\n")
    parsed = read_pairs(pairs, tmp_path / "images")
    assert parsed.official_folds
    assert parsed.same.tolist() == [True, False, True, False]
    assert parsed.folds.tolist() == [0, 0, 1, 1]
    assert parsed.first[1] == tmp_path / "images" / "Ann" / "Ann_0001.jpg"
    assert parsed.second[1] == tmp_path / "images" / "Bob" / "Bob_0003.jpg"


def test_read_pairs_without_header_uses_random_folds(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"P{i} 1 2\n" for i in range(30)))
    parsed = read_pairs(pairs, tmp_path)
    assert not parsed.official_folds
    assert sorted(np.bincount(parsed.folds).tolist()) == [3] * 10


@pytest.mark.parametrize("text", ["", "2\t1\n", "Ann 1\n", "Ann one two\n", "Ann 1 Bob\n"])
def test_bad_pairs_files_are_named_errors(tmp_path: Path, text: str) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(text)
    with pytest.raises(PairsFormatError):
        read_pairs(pairs, tmp_path)


def test_cli_reports_a_bad_pairs_file_as_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("Ann 1 Bob\n")
    assert main(["evaluate", "pairs", str(pairs), "--images", str(tmp_path)]) == 2
    assert "line 1" in capsys.readouterr().err


@pytest.mark.data
def test_three_recognizers_verify_real_lfw_pairs(data: Path, tmp_path: Path) -> None:
    """Two of LFW's folds (236 pairs, threshold of each fold chosen on the other)."""
    lines = (data / "lfw" / "pairs.txt").read_text().splitlines()
    per_fold = int(lines[0].split()[1])
    subset = tmp_path / "pairs.txt"
    subset.write_text("\n".join([f"2\t{per_fold}", *lines[1 : 1 + 4 * per_fold]]) + "\n")
    report = tmp_path / "pairs.json"
    assert main(["evaluate", "pairs", str(subset), "--images", str(data / "lfw" / "identities"), "--json", str(report)]) == 0
    results = json.loads(report.read_text())
    assert results["protocol"] == "lfw-10-fold" and results["pairs"] == 4 * per_fold
    assert (tmp_path / "pairs_roc.png").stat().st_size > 10_000
    for name in ("dlib", "facenet", "sface"):
        assert results["recognizers"][name]["accuracy"] >= 0.95, (name, results["recognizers"][name])
