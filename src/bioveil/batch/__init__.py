"""One batch runner for ``mask``, ``cloak`` and ``scan``: plan, skip what is done, run on an engine, record, report.

- :mod:`bioveil.batch.engine`: the per-file job (:class:`~bioveil.batch.engine.Work`) and the engines that run it.
- :mod:`bioveil.batch.manifest`: the SQLite manifest that makes a batch resumable.
- :mod:`bioveil.batch.runner`: :func:`~bioveil.batch.runner.run_batch`, which ties them together.
"""

from bioveil.batch.engine import Engine, FileOutcome, Finished, LocalEngine, Task, Work
from bioveil.batch.manifest import Manifest, Row, State, manifest_path
from bioveil.batch.runner import BatchResult, Resume, run_batch

__all__ = ["BatchResult", "Engine", "FileOutcome", "Finished", "LocalEngine", "Manifest", "Resume", "Row", "State", "Task",
           "Work", "manifest_path", "run_batch"]
