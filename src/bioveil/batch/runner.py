"""The one batch runner of ``mask``, ``cloak`` and ``scan``: plan the files, skip what the manifest
says is done, run the rest on an engine, record each result, report.

Order of a file's life, so that a process killed at any moment loses nothing finished and leaves no
lie behind: the row is marked ``pending`` (planned) and ``running`` (started); the job writes its
output to a temporary file and renames it into place (:func:`bioveil.media.atomic.atomic_path`);
the output is read back and hashed; then the row is marked ``done`` with that hash, in one
transaction. On the next start, rows left ``pending`` or ``running`` count as not done, and
temporary files that a killed run left beside the outputs are deleted.

A file is skipped when its row is ``done`` with the same settings, its content hash is unchanged and
its output is still there with its hash. A file that failed is tried again only with
``retry_failed``, or when it or the settings changed; ``force`` redoes everything.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from bioveil.batch.engine import Engine, FileOutcome, Finished, LocalEngine, Task, Work
from bioveil.batch.manifest import Manifest, Row, State, file_sha256, manifest_path, settings_hash
from bioveil.concurrency import map_in_order
from bioveil.errors import BioveilError, MediaError, OutputError, UnreadableInputError
from bioveil.media.discover import Found, Plan, find_inputs, plan_outputs
from bioveil.media.sniff import media_kind

log = logging.getLogger(__name__)

R = TypeVar("R", bound=FileOutcome)

# Hashing inputs is reading files: a few at once keep a disk (or a network file system) busy.
HASH_WORKERS = 4
EARLIER_FAILURE_NOTE = "failed in an earlier run with these settings and is unchanged: not tried again (--retry-failed)"


@dataclass(frozen=True)
class Resume:
    """How a rerun treats what the manifest says about earlier runs."""

    retry_failed: bool = False  # try files that failed again (unchanged files that failed are otherwise skipped)
    force: bool = False  # redo every file, done or not


@dataclass
class BatchResult(Generic[R]):
    """What a batch did: a result per file it processed or that failed; the files skipped as done."""

    results: list[R] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)  # the task of each result (``index`` < 0: failed in planning)
    skipped: list[Path] = field(default_factory=list)  # files in folders without a media suffix
    done: list[tuple[Task, Row]] = field(default_factory=list)  # done before, unchanged: not redone
    manifest: Path | None = None
    failed_before: int = 0  # failures recorded by an earlier run and not retried (counted in results)

    @property
    def failures(self) -> list[R]:
        return [result for result in self.results if not result.ok]

    @property
    def processed(self) -> int:
        """Files processed successfully in this run."""
        return sum(result.ok for result in self.results)

    @property
    def face_count(self) -> int:
        """Faces in the files processed in this run."""
        return sum(int(getattr(result, "face_count", 0)) for result in self.results)

    def done_records(self) -> list[dict[str, Any]]:
        """The report records of the files skipped as done, as their run wrote them, marked ``resumed``."""
        return [{**(row.record or {"input": str(task.source), "status": "ok"}), "resumed": True}
                for task, row in self.done]


Process = Callable[[list[Task], list[Task], Callable[[Task], None]], Iterator[Finished[R]]]


def run_batch(inputs: list[Path], work: Work[Any, R], *, suffixes: frozenset[str], settings: dict[str, Any],
              outdir: Path | None = None, manifest: Path | None = None, resume: Resume | None = None,
              engine: Engine | None = None, process: Process[R] | None = None,
              target_of: Callable[[str], Path] | None = None, plan: Plan | None = None,
              file_settings: Callable[[Path], dict[str, Any]] | None = None,
              on_plan: Callable[[int], None] | None = None, on_result: Callable[[R], None] | None = None) -> BatchResult[R]:
    """Run ``work`` on every media file in ``inputs``; never raises for a bad file.

    ``outdir``: where each input's output goes (its path inside the folder it was found in); without
    it (scan) ``target_of(sha256)`` names each file's output and ``manifest`` must be given.
    ``process(todo, every, on_start)`` replaces ``engine.map(work, todo, on_start)`` for a command
    with a step across files (cloak's decoys): it sees ``every`` planned file, done or not, and must
    yield a :class:`Finished` for each file of ``todo``. ``plan``: ``plan_outputs(inputs, outdir, suffixes)``
    when the caller made it already. ``file_settings(source)``: settings of one file on top of ``settings``
    (the app's hand-made edits of a photo): a file is redone when its own settings change, the others are not.
    """
    resume = resume or Resume()
    engine = engine or LocalEngine()
    if outdir is not None:
        plan = plan or plan_outputs(inputs, outdir, suffixes)
        jobs: list[tuple[Path, Path | None]] = list(plan.jobs)
        errors, skipped = plan.errors, plan.skipped
    else:
        found: Found = find_inputs(inputs, suffixes)
        jobs = [(source, None) for _, source in found.files]
        errors, skipped = found.errors, found.skipped
    where = manifest or manifest_path(outdir or Path("."))
    batch: BatchResult[R] = BatchResult(skipped=skipped, manifest=where)
    base_signature = settings_hash(settings)

    def signature_of(source: Path) -> str:
        if file_settings is None:
            return base_signature
        return settings_hash({"batch": settings, "file": file_settings(source)})
    failures: list[tuple[Task, R]] = []

    def fail(task: Task, error: BioveilError) -> tuple[Task, R]:
        return task, work.failed(task, error, 0.0)

    for index, (source, error) in enumerate(errors):
        failures.append(fail(Task(index - len(errors), source, None, "unknown", ""), error))

    protected = frozenset(source.resolve() for source, _ in jobs)
    tasks: list[Task] = []
    for index, (source, target, sha, error) in enumerate(_hash_inputs(jobs)):
        if error is None and target is not None and target.resolve() in protected:
            error = OutputError(target, "would overwrite an input file; choose an output folder (-o) apart from the inputs")
        if error is not None:
            failures.append(fail(Task(index, source, target, "unknown", ""), error))
            continue
        tasks.append(Task(index, source, target if target is not None or target_of is None else target_of(sha),
                          media_kind(source), sha))

    def record(task: Task, result: R) -> None:
        batch.tasks.append(task)
        batch.results.append(result)
        if on_result:
            on_result(result)

    if not tasks:  # nothing to run: no manifest is created (-o may even be an input folder)
        if on_plan:
            on_plan(len(failures))
        for task, result in failures:
            record(task, result)
        return batch

    with Manifest(where) as book:
        _sweep_partials([task.target for task in tasks if task.target is not None])
        rows = book.rows([_key(task.source) for task in tasks])
        signatures = {task.index: signature_of(task.source) for task in tasks}
        todo: list[Task] = []
        for task in tasks:
            row = rows.get(_key(task.source))
            verdict = _verdict(task, row, signatures[task.index], resume)
            if verdict == "done" and row is not None:
                batch.done.append((task, row))
            elif verdict == "failed" and row is not None:
                _, result = fail(task, BioveilError(row.message or ""))
                result.error, result.message = row.error, row.message
                result.notes.append(EARLIER_FAILURE_NOTE)
                failures.append((task, result))
                batch.failed_before += 1
            else:
                todo.append(task)
        interrupted = sum(row.state in (State.PENDING, State.RUNNING) for row in rows.values())
        if interrupted:
            log.info("%d files were left unfinished by an earlier run: they are done again", interrupted)
        log.info("%d files to do, %d done before (skipped), %d failed before", len(todo), len(batch.done),
                 batch.failed_before)
        for signature, entries in _by_signature(todo, signatures).items():
            book.plan(entries, signature)
        if on_plan:
            on_plan(len(todo) + len(failures))
        for task, result in failures:
            record(task, result)

        def start(task: Task) -> None:
            book.running(_key(task.source))

        run = process or (lambda todo, _every, on_start: engine.map(work, todo, on_start))
        for finished in run(todo, tasks, start):
            result = finished.result
            source = _key(finished.task.source)
            if result.ok and (result.output is None or finished.output_sha256 is not None):
                book.done(source, result.output, finished.output_sha256, result.seconds, result.to_record())
            else:
                book.failed(source, result.error or "UnexpectedError", result.message or "", result.seconds,
                            result.to_record())
            record(finished.task, result)
    return batch


def _verdict(task: Task, row: Row | None, signature: str, resume: Resume) -> str:
    """``done`` (skip), ``failed`` (report the earlier failure) or ``todo``."""
    if resume.force or row is None or row.settings_sha256 != signature or row.input_sha256 != task.sha256:
        return "todo"
    if row.state == State.DONE and row.output_intact():
        return "done"
    if row.state == State.FAILED and not resume.retry_failed:
        return "failed"
    return "todo"


def _by_signature(todo: list[Task], signatures: dict[int, str]) -> dict[str, list[tuple[Path, str | None]]]:
    groups: dict[str, list[tuple[Path, str | None]]] = {}
    for task in todo:
        groups.setdefault(signatures[task.index], []).append((_key(task.source), task.sha256))
    return groups


def _key(source: Path) -> Path:
    """A file's row: its absolute path with links resolved, so the same file from another folder matches."""
    return source.resolve()


def _hash_inputs(jobs: list[tuple[Path, Path | None]]
                 ) -> Iterator[tuple[Path, Path | None, str, MediaError | None]]:
    def one(job: tuple[Path, Path | None]) -> tuple[Path, Path | None, str, MediaError | None]:
        source, target = job
        try:
            return source, target, file_sha256(source), None
        except OSError as exc:
            return source, target, "", UnreadableInputError(
                source, f"cannot be read ({exc.strerror or exc}); check the path and its permissions")

    started = time.perf_counter()
    yield from map_in_order(one, jobs, HASH_WORKERS, "hash")
    log.debug("hashed %d inputs in %.2f s", len(jobs), time.perf_counter() - started)


def _sweep_partials(targets: list[Path]) -> None:
    """Delete the temporary files a killed run left beside these outputs (``.<stem>.XXXXXXXX.part...``)."""
    stems: dict[Path, set[str]] = {}
    for target in targets:
        stems.setdefault(target.parent, set()).add(target.stem)
    for folder, names in stems.items():
        try:
            entries = [entry for entry in folder.iterdir() if entry.name.startswith(".") and ".part" in entry.name]
        except OSError:
            continue  # not created yet
        for entry in entries:
            match = _PARTIAL.match(entry.name)
            if match and match["stem"] in names and entry.is_file():
                log.info("removing %s, left by an interrupted run", entry)
                entry.unlink(missing_ok=True)


_PARTIAL = re.compile(r"^\.(?P<stem>.+)\.[A-Za-z0-9_]{8}\.part(\.[^.]*)?$")
