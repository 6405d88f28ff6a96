"""Run directories: where a training run keeps its configuration, history, plots, metrics and model.

A run directory (``runs/NAME``) holds:

==========================  ==========================================================
``config.json``             the recipe (model, data, epochs, ...) and facts (runtime, classes)
``history.csv``             one row per epoch, each epoch exactly once (resume-safe)
``curves.png``              loss and accuracy, training vs validation
``confusion_matrix.png``    on the test split
``misclassified.png``       the worst test mistakes (:mod:`kerascnn.reports`)
``roc.png``, ``pr.png``     two-class tasks: ROC and precision-recall curves
``metrics.json``            test loss/accuracy, per-class precision/recall/F1 (two classes: ROC AUC,
                            average precision); written last
``model.keras``             the best model (lowest validation loss)
``backup/``                 ``BackupAndRestore`` state, one folder per phase, while unfinished
``state.json``              the phases completed so far, while the run is unfinished
==========================  ==========================================================

Every file is written to a temporary name and renamed, so a reader (or a run killed half-way)
never sees half a file. :meth:`RunDirectory.prepare` decides what to do with an existing
directory: start, resume an unfinished run of the same recipe, report a finished one, or
refuse a different recipe unless told to resume or overwrite it.

Examples:
    >>> import os, tempfile
    >>> run = RunDirectory(os.path.join(tempfile.mkdtemp(), "demo"))
    >>> run.prepare({"model": "lenet5", "epochs": 3})
    'new'
    >>> RunDirectory(run.path).prepare({"model": "lenet5", "epochs": 3})
    'resume'
    >>> RunDirectory(run.path).prepare({"model": "lenet5", "epochs": 5})
    Traceback (most recent call last):
    ...
    ValueError: ...holds a run with a different configuration (epochs: 3 in the directory, 5 now)...
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time

CONFIG = "config.json"
HISTORY = "history.csv"
CURVES = "curves.png"
CONFUSION = "confusion_matrix.png"
METRICS = "metrics.json"
MODEL = "model.keras"
BACKUP = "backup"
STATE = "state.json"
MISCLASSIFIED = "misclassified.png"
ROC = "roc.png"
PR = "pr.png"
#: Every name a run directory may contain (``--overwrite`` removes only these).
RUN_FILES = (CONFIG, HISTORY, CURVES, CONFUSION, METRICS, MODEL, MODEL + ".best.json", BACKUP, "tensorboard",
             STATE, MISCLASSIFIED, ROC, PR)
#: Extensions kept whole in temporary names (Keras looks at the full ``.weights.h5``).
_EXTENSIONS = (".weights.h5",)


def _temporary(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    for long in _EXTENSIONS:
        if name.endswith(long):
            stem, extension = name[:-len(long)], long
    return os.path.join(folder, f".{stem}.{os.getpid()}.tmp{extension}")


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    temporary = _temporary(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Examples:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> atomic_write_text(os.path.join(folder, "a.txt"), "hello")
        >>> open(os.path.join(folder, "a.txt")).read(), sorted(os.listdir(folder))
        ('hello', ['a.txt'])
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, data) -> None:
    """Write ``data`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def atomic_save(path: str, save) -> None:
    """Call ``save(temporary_path)`` (e.g. ``model.save``, ``figure.savefig``) then rename over ``path``.

    The temporary name keeps ``path``'s extension, which Keras and matplotlib look at.
    """
    temporary = _temporary(path)
    try:
        save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.isdir(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.exists(temporary):
            os.remove(temporary)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def check_writable(path: str, argument: str = "--out") -> None:
    """Raise a ValueError unless ``path`` (or the nearest existing folder above it) is writable.

    Nothing is left behind (a temporary file is created and removed). Example:
        >>> check_writable("/proc/kerascnn-run")
        Traceback (most recent call last):
        ...
        ValueError: --out '/proc/kerascnn-run' is not writable ...
    """
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.path.exists(probe) and not os.path.isdir(probe):
        raise ValueError(f"{argument} {path!r} is not a directory path: {probe!r} is a file; "
                         "choose another --out.")
    try:  # a real probe: os.access says yes to root even on read-only file systems
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as error:
        raise ValueError(f"{argument} {path!r} is not writable (cannot create a file in {probe!r}: "
                         f"{error.strerror or error}); choose another --out.") from None


class RunDirectory:
    """One training run's folder; see the module docstring for its files."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def file(self, name: str) -> str:
        """The path of one of the run's files, e.g. ``run.file("metrics.json")``."""
        return os.path.join(self.path, name)

    @property
    def exists(self) -> bool:
        return os.path.isfile(self.file(CONFIG))

    @property
    def complete(self) -> bool:
        """True once ``metrics.json`` (written last) exists."""
        return os.path.isfile(self.file(METRICS))

    def read_json(self, name: str):
        with open(self.file(name), encoding="utf-8") as handle:
            return json.load(handle)

    def config(self) -> dict:
        """The stored ``config.json`` (raises a ValueError naming the folder if it is not a run)."""
        try:
            return self.read_json(CONFIG)
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.path!r} is not a kerascnn run directory (no readable {CONFIG}: "
                             f"{error}); pass the --out folder of a `kerascnn train` run.") from None

    def write_json(self, name: str, data) -> None:
        atomic_write_json(self.file(name), data)

    def check(self, recipe: dict, resume: bool = False, overwrite: bool = False) -> str:
        """What :meth:`create` will do with this folder for ``recipe``; writes nothing.

        Returns ``"new"`` (absent, empty, or ``overwrite``), ``"resume"`` (an unfinished run of
        the same recipe, or any run with ``resume``) or ``"complete"`` (a finished run of the
        same recipe). Raises a ValueError, saying what to do, for a folder that is not
        writable, not a run, or a run of a different recipe (unless ``resume`` or ``overwrite``).
        """
        check_writable(self.path)
        if overwrite:
            if os.path.isdir(self.path) and not self.exists and self._foreign():
                raise ValueError(f"--overwrite: {self.path!r} is not a kerascnn run directory (it holds "
                                 f"{', '.join(self._foreign()[:3])}...); only run directories are replaced.")
            return "new"
        if not self.exists:
            if resume:
                raise ValueError(f"--resume: {self.path!r} holds no run to resume; leave out --resume to start one.")
            if os.path.isdir(self.path) and self._foreign():
                raise ValueError(
                    f"--out {self.path!r} exists and is not a kerascnn run directory "
                    f"(it holds {', '.join(self._foreign()[:3])}...); choose an empty or new folder.")
            return "new"
        stored = self.config().get("recipe", {})
        if stored != recipe and not resume:
            changes = [f"{key}: {stored.get(key)!r} in the directory, {recipe.get(key)!r} now"
                       for key in sorted(set(stored) | set(recipe)) if stored.get(key) != recipe.get(key)]
            raise ValueError(
                f"--out {self.path!r} holds a run with a different configuration "
                f"({'; '.join(changes)}); use --resume to continue it with its own configuration, "
                "--overwrite to replace it, or another --out.")
        return "complete" if self.complete else "resume"

    def _foreign(self) -> list:
        return sorted(n for n in os.listdir(self.path) if not n.startswith("."))

    def create(self, recipe: dict, facts: dict | None = None, fresh: bool = True) -> None:
        """Create the folder and write ``config.json`` (``recipe`` plus ``facts``) when ``fresh``."""
        os.makedirs(self.path, exist_ok=True)
        for name in os.listdir(self.path):  # temporaries of a killed earlier process (never renamed)
            if re.fullmatch(r"\..+\.\d+\.tmp(\.[\w.]+)?", name) and f".{os.getpid()}.tmp" not in name:
                with contextlib.suppress(OSError):
                    os.remove(self.file(name))
        if fresh or not self.exists:
            self.write_json(CONFIG, {"recipe": recipe, **(facts or {}),
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})

    def prepare(self, recipe: dict, facts: dict | None = None, resume: bool = False,
                overwrite: bool = False) -> str:
        """:meth:`check`, then (``overwrite``: :meth:`clear`) :meth:`create`; returns the state."""
        state = self.check(recipe, resume=resume, overwrite=overwrite)
        if overwrite:
            self.clear()
        self.create(recipe, facts, fresh=state == "new")
        return state

    def clear(self) -> None:
        """Remove the run's own files (only those; anything else in the folder stays)."""
        if not os.path.isdir(self.path):
            return
        for name in RUN_FILES:
            target = self.file(name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
