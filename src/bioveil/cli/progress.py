"""What the batch commands (mask, cloak, scan) share: the resume flags, a progress bar over files, the
summary's counts, and how they end."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioveil.errors import OutputError

RESUME_EPILOG = ("Reruns resume: a manifest (OUTDIR/.bioveil/manifest.sqlite) records every input, and a rerun skips "
                 "files done with the same settings whose input is unchanged and whose output is still there; "
                 "files that failed are tried again only with --retry-failed; --force redoes everything.")


def add_resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retry-failed", action="store_true",
                        help="try again the files that failed in an earlier run (otherwise reported as failed again)")
    parser.add_argument("--force", action="store_true", help="redo every file, even those an earlier run finished")


ENGINE_EPILOG = ("--engine ray runs the files on a Ray cluster: the one at --ray-address, else at RAY_ADDRESS (set by "
                 "'ray job submit'), else a local Ray started for the run; outputs go to OUTDIR, which every node must "
                 "see (a shared file system). Needs: pip install 'bioveil[cluster]'; see docs/scaling.md.")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="where the files are processed: this process (default) or a Ray cluster")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="the Ray cluster for --engine ray (default: RAY_ADDRESS, else a local Ray for this run)")
    parser.add_argument("--ray-actors", type=int, metavar="N",
                        help="Ray workers, one CPU each, each loading the models once (default: one per CPU of the cluster)")


def engine_from(args: argparse.Namespace, workers: int) -> Any:
    """The engine the flags ask for (``workers``: files in flight on the local engine)."""
    from bioveil.batch.engine import make_engine

    if args.engine != "ray" and (args.ray_address or args.ray_actors):
        print("bioveil: note: --ray-address and --ray-actors apply only to --engine ray", file=sys.stderr)
    return make_engine(args.engine, workers, address=args.ray_address, actors=args.ray_actors)


def resume_from(args: argparse.Namespace) -> Any:
    from bioveil.batch.runner import Resume

    return Resume(retry_failed=args.retry_failed, force=args.force)


def counts(batch: Any, verb: str) -> str:
    """``N files: D <verb>, S skipped (done before), F failed`` (and how many of those failed before)."""
    total = len(batch.results) + len(batch.done)
    line = f"{total} files: {batch.processed} {verb}, {len(batch.done)} skipped (done before), {len(batch.failures)} failed"
    if batch.failed_before:
        line += f" ({batch.failed_before} in an earlier run, not retried: --retry-failed)"
    return line


class FileProgress:
    """A bar over the batch's files; failures and notes are printed above it as they come."""

    def __init__(self, disabled: bool) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = tqdm(total=0, unit="file", disable=True if disabled else None, file=sys.stderr)

    def on_plan(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def on_result(self, result: Any) -> None:
        self.bar.update(1)
        if not result.ok:
            self._tqdm.write(f"FAILED {result.input}: {result.error}: {result.message}", file=sys.stderr)
        for note in result.notes:
            self._tqdm.write(f"note {result.input}: {note}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def report_summary(batch: Any) -> dict[str, Any]:
    """The ``summary`` of a ``--json`` report: ``files`` counts every input, done before or not."""
    return {"files": len(batch.results) + len(batch.done), "done": batch.processed, "skipped": len(batch.done),
            "failed": len(batch.failures), "faces": batch.face_count, "manifest": str(batch.manifest)}


def finish(batch: Any, report: Path | None, write_report: Callable[[Path], None]) -> int:
    """Write the JSON report where asked; the exit code: nothing found, some failed, or all done."""
    from bioveil.cli.main import EXIT_FAILURES, EXIT_NOTHING, EXIT_OK

    if report is not None:
        try:
            write_report(report)
        except (OutputError, OSError) as exc:
            print(f"bioveil: the report was not written: {exc}", file=sys.stderr)
            return EXIT_FAILURES
    if not batch.results and not batch.done:
        return EXIT_NOTHING
    return EXIT_FAILURES if batch.failures else EXIT_OK
