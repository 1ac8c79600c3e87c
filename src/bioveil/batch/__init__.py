"""One batch runner for ``mask``, ``cloak`` and ``scan``: plan, skip what is done, run on an engine, record, report.

- :mod:`bioveil.batch.engine`: the per-file job (:class:`~bioveil.batch.engine.Work`) and the engines that run it
  (:func:`~bioveil.batch.engine.make_engine`; ``ray``: :mod:`bioveil.batch.ray_engine`, the only module importing Ray).
- :mod:`bioveil.batch.manifest`: the SQLite manifest that makes a batch resumable.
- :mod:`bioveil.batch.runner`: :func:`~bioveil.batch.runner.run_batch`, which ties them together.
"""

from bioveil.batch.engine import ENGINES, Engine, FileOutcome, Finished, LocalEngine, Task, Work, make_engine
from bioveil.batch.manifest import Manifest, Row, State, manifest_path
from bioveil.batch.runner import BatchResult, Resume, run_batch

__all__ = ["ENGINES", "BatchResult", "Engine", "FileOutcome", "Finished", "LocalEngine", "Manifest", "Resume", "Row",
           "State", "Task", "Work", "make_engine", "manifest_path", "run_batch"]
