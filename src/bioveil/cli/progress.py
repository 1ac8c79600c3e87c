"""What the batch commands (mask, cloak) share: a progress bar over files, and how they end."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bioveil.errors import OutputError


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


def finish(batch: Any, report: Path | None, write_report: Callable[[Path], None]) -> int:
    """Write the JSON report where asked; the exit code: nothing found, some failed, or all done."""
    from bioveil.cli.main import EXIT_FAILURES, EXIT_NOTHING, EXIT_OK

    if report is not None:
        try:
            write_report(report)
        except (OutputError, OSError) as exc:
            print(f"bioveil: the report was not written: {exc}", file=sys.stderr)
            return EXIT_FAILURES
    if not batch.results:
        return EXIT_NOTHING
    return EXIT_FAILURES if batch.failures else EXIT_OK
