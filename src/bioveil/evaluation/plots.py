"""ROC curves and bar charts as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bioveil.errors import MissingDependencyError
from bioveil.media.atomic import atomic_path

if TYPE_CHECKING:
    from bioveil.evaluation.pairs import PairsReport
    from bioveil.evaluation.protection import ProtectionReport


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError("plots", "pip install matplotlib==3.11.2") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:  # type: ignore[no-untyped-def]
    with atomic_path(Path(path)) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")


def roc_plot(report: PairsReport, path: Path) -> None:
    """ROC curves of every recognizer, false-accept rate on a log axis."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for name, result in report.results.items():
        fpr, tpr = report.roc(name)
        axis.plot(fpr, tpr, label=f"{name} ({100 * result.accuracy:.2f}%)")
    axis.set_xscale("log")
    axis.set_xlim(max(1e-3, 0.5 / max(report.pairs, 1)), 1)
    axis.set_ylim(0, 1.01)
    axis.set_xlabel("false accept rate")
    axis.set_ylabel("true accept rate")
    axis.set_title(f"verification ROC, {report.pairs} pairs")
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    _save(figure, path)
    plt.close(figure)


def protection_bars(report: ProtectionReport, path: Path) -> None:
    """Rank-1 identification per recognizer and transform (evasion, poisoning) and detection rates."""
    plt = _pyplot()
    keys = ["clean", *report.transforms]
    panels = [("evasion: rank-1", report.evasion), ("poisoning: rank-1", report.poisoning)]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
    width = 0.8 / len(keys)
    for axis, (title, table) in zip(axes[:2], panels, strict=True):
        names = list(table)
        for k, key in enumerate(keys):
            axis.bar([i + k * width for i in range(len(names))], [table[n][key].rank1 for n in names], width, label=key)
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
        axis.set_title(title)
    detectors = list(report.detection)
    for k, key in enumerate(keys):
        rates = [report.detection[d][key] for d in detectors]
        axes[2].bar([i + k * width for i in range(len(detectors))], rates, width, label=key)
    axes[2].set_xticks([i + 0.4 - width / 2 for i in range(len(detectors))], detectors)
    axes[2].set_title("face still detected")
    axes[0].set_ylabel("rate ('clean' = before protection)")
    axes[0].set_ylim(0, 1.05)
    axes[2].legend(fontsize=8, loc="upper right")
    _save(figure, path)
    plt.close(figure)
