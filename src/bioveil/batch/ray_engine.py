"""``--engine ray``: a batch's per-file job on a Ray cluster, with Ray Data (the only module that imports ray).

The driver (the ``bioveil`` command) plans the files, hashes them and keeps the manifest, the progress
bar and the JSON report, as with :class:`~bioveil.batch.engine.LocalEngine`. The files go to Ray Data
as one row each (``ray.data.from_items``), through ``map_batches`` with a pool of actors
(:class:`FileActor`): each actor sets its thread counts from the CPUs Ray gives it, calls
``work.setup()`` once (the models), then runs :func:`~bioveil.batch.engine.execute` per file, which
writes the output atomically into the output folder (on a cluster: a shared file system) and hashes
it there. Results stream back in plan order (``preserve_order``), so the manifest records each file
as it finishes.

Where the cluster is: ``address``, else ``RAY_ADDRESS`` (Ray's own convention, also set by ``ray job
submit``), else a local Ray is started for the run (its CPUs: this machine's usable cores) and stopped
after. A driver already connected (``ray.init`` called by a script) is used as it is. The Ray Client
(``ray://``) is refused: submit the command as a Ray job instead (docs/scaling.md).

Faults: an actor that dies (killed, out of memory, a crash in a decoder) is replaced and its file
done again (``max_restarts=-1``; each file is tried at most :data:`TASK_RETRIES` more times, then the
batch stops with :class:`~bioveil.errors.EngineError`: what finished is in the manifest, a rerun
resumes). A file that fails with a named error fails as it does locally: ``execute`` turns it into
the file's failed result, and the rest goes on.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.batch.engine import Finished, R, Task, Work, execute, portable
from bioveil.concurrency import CPUS_VARIABLE, usable_cores
from bioveil.errors import EngineError, InvalidOptionError, MissingDependencyError

log = logging.getLogger(__name__)

TASK_RETRIES = 3  # a file whose worker dies this many more times stops the batch (a poison file, not bad luck)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
# Test-only: "NAME=MARKER" makes the actor that takes file NAME exit (os._exit) if MARKER does not exist
# yet, after creating it: a worker dying mid-task, once (tests/batch/test_ray.py).
CRASH_VARIABLE = "BIOVEIL_TEST_CRASH_ONCE"
QUIET = {"RAY_USAGE_STATS_ENABLED": "0"}  # no usage reports: the cluster may have no internet, and needs none


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError("--engine ray", "pip install 'bioveil[cluster]'") from exc
    return ray


def limit_threads(cpus: int) -> None:
    """This process's thread pools sized to the ``cpus`` Ray gave it: bioveil's own (detector passes,
    cloak lanes: :func:`~bioveil.concurrency.usable_cores`), OpenCV, PyTorch and the BLAS libraries.
    onnxruntime keeps bioveil's one thread per model run (:func:`bioveil.detection.onnx_session.cpu_threads`),
    so a detection is the same as on the local engine; the passes run side by side up to ``cpus``."""
    os.environ[CPUS_VARIABLE] = str(cpus)
    for name in THREAD_VARIABLES:  # set by the actor's runtime_env already, before anything was imported
        os.environ[name] = str(cpus)
    import cv2

    cv2.setNumThreads(cpus)
    try:
        import torch
    except ImportError:  # the base install has no torch: mask and scan do not need it
        pass
    else:
        torch.set_num_threads(cpus)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(cpus)


class FileActor:
    """One worker of the pool: models loaded once, then one file per call (Ray Data's callable class)."""

    def __init__(self, work: bytes, cpus: int) -> None:
        limit_threads(cpus)
        self.work: Work[Any, Any] = pickle.loads(work)
        self.context = self.work.setup()
        log.info("%s worker ready in process %d with %d CPUs", self.work.name, os.getpid(), cpus)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = []
        for raw in batch["task"]:
            task: Task = pickle.loads(raw)
            _crash_once(task)
            done.append(pickle.dumps(execute(self.work, self.context, task)))
        return {"index": batch["index"], "finished": np.array(done, dtype=object)}


def _crash_once(task: Task) -> None:
    spec = os.environ.get(CRASH_VARIABLE)
    if not spec:
        return
    name, _, marker = spec.partition("=")
    if task.source.name == name and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os._exit(17)


class RayEngine:
    """Files on a Ray cluster, ``actors`` workers of ``cpus_per_actor`` CPUs each (see the module's text).

    ``actors``: by default as many as the cluster's CPUs allow. ``address``: by default ``RAY_ADDRESS``,
    else a local Ray for the run (``local_cpus``: its CPUs, by default this machine's usable cores).
    """

    in_process = False

    def __init__(self, actors: int | None = None, address: str | None = None, cpus_per_actor: int = 1,
                 local_cpus: int | None = None) -> None:
        if (actors is not None and actors < 1) or cpus_per_actor < 1:
            raise InvalidOptionError(f"the Ray engine needs at least 1 actor of at least 1 CPU, got {actors} "
                                     f"actors of {cpus_per_actor} CPUs")
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is not None and address.startswith("ray://"):
            raise InvalidOptionError(f"{address!r} is a Ray Client address, which bioveil does not use: run the "
                                     "command as a Ray job on the cluster (ray job submit -- bioveil ...), see docs/scaling.md")
        self.actors, self.address, self.cpus_per_actor, self.local_cpus = actors, address, cpus_per_actor, local_cpus

    def map(self, work: Work[Any, R], tasks: Sequence[Task],
            on_start: Callable[[Task], None] | None = None) -> Iterator[Finished[R]]:
        if not tasks:
            return
        ray = _ray()
        with self._connected(ray):
            actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus_per_actor)
            actors = min(actors, len(tasks))
            log.info("%s: %d files on %d Ray actors of %d CPUs", work.name, len(tasks), actors, self.cpus_per_actor)
            rows = [{"index": position, "task": pickle.dumps(task)} for position, task in enumerate(tasks)]
            if on_start is not None:  # handed to the cluster: the manifest says running until each result is back
                for task in tasks:
                    on_start(task)
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True  # results in plan order, streamed as they come
            context.enable_progress_bars = False  # the driver's own bar counts files
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            # One file per block: a block is what an actor takes at once, and what is redone when it dies.
            dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
            with warnings.catch_warnings():  # Ray 2.60 deprecates passing actor options this way, with no other way yet
                warnings.simplefilter("ignore", DeprecationWarning)
                mapped = dataset.map_batches(
                    FileActor, fn_constructor_args=(pickle.dumps(portable(work)), self.cpus_per_actor), batch_size=1,
                    batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=self.cpus_per_actor,
                    runtime_env={"env_vars": self._env()}, max_restarts=-1, max_task_retries=TASK_RETRIES)
            try:
                for row in mapped.iter_rows():
                    yield pickle.loads(row["finished"])
            except ray.exceptions.RayError as exc:
                raise EngineError(f"the Ray cluster failed the batch ({type(exc).__name__}: {exc}); the files finished "
                                  "are recorded: run the same command again to resume") from exc

    def _env(self) -> dict[str, str]:
        """The actors' environment: thread counts set before any library is imported, no usage reports."""
        env = {name: str(self.cpus_per_actor) for name in THREAD_VARIABLES}
        env[CPUS_VARIABLE] = str(self.cpus_per_actor)
        env.update(QUIET)
        for name in (CRASH_VARIABLE, "BIOVEIL_MODELS", "BIOVEIL_THREADS"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        return env

    @contextmanager
    def _connected(self, ray: Any) -> Iterator[None]:
        """Connected to the cluster for the block: an existing connection as it is, ``address``, or a local
        Ray started here and stopped after."""
        if ray.is_initialized():
            yield
            return
        for name, value in QUIET.items():
            os.environ.setdefault(name, value)
        try:
            if self.address is not None:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address="local", num_cpus=self.local_cpus or usable_cores(), include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local Ray"
            raise EngineError(f"cannot start or reach {where} ({exc}); check --ray-address / RAY_ADDRESS "
                              "(e.g. 'ray start --head' prints it), or leave both unset for a local Ray") from exc
        try:
            yield
        finally:
            ray.shutdown()
