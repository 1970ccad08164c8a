"""Writing output files safely: whole or not at all.

Every file the project writes for a user (results, reports, embeddings, generated Verilog)
goes through :func:`atomic_write`: the bytes go to a temporary file in the target's directory,
which then replaces the target in one ``os.replace``. An interrupted or failed write leaves the
old file (or none), never half a file.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "atomic_write_text", "save_npy", "save_npz", "to_json",
           "check_output_path", "check_output_dir", "check_distinct"]


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then rename).

    A symbolic link is written through (its target is replaced); anything at ``path`` that is
    not a regular file (a device such as ``/dev/null``, a FIFO, a directory) is refused with
    ``ValueError`` and left alone. An ``OSError`` names ``path``, not the temporary file.
    """
    shown = Path(path)
    path = Path(os.path.realpath(shown))
    if path.exists() and not path.is_file():
        raise ValueError(f"{shown} exists and is not a regular file; refusing to replace it")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise OSError(e.errno, f"cannot write {shown}: {e.strerror or e}", str(shown)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return shown


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, text.encode())


def save_npy(path, array) -> Path:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended), atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write(path, buf.getvalue())


def save_npz(path, **arrays) -> Path:
    """``np.savez`` to exactly ``path`` (no ``.npz`` appended), atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write(path, buf.getvalue())


def _plain(o):
    """JSON-ready copy: numpy scalars/arrays to Python, non-finite floats to ``None``."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        o = float(o)
        return o if math.isfinite(o) else None
    if isinstance(o, Path):
        return str(o)
    return o


def to_json(data) -> str:
    """Strict JSON (RFC 8259: no NaN/Infinity; those become ``null``), sorted keys, indented."""
    return json.dumps(_plain(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def check_output_path(path, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be written as a file.

    Its directory must exist (or be creatable: missing parents are created) and accept a new
    file (tried: a temporary file is created and removed, so read-only file systems and
    kernel folders are caught as well as permissions), and ``path`` must not be a directory,
    a device, a FIFO or anything else that is not a regular file.

    Raises
    ------
    ValueError
        Naming ``what`` and the path, if it cannot be written.
    """
    text = str(path)
    if not text or text.endswith(os.sep):
        raise ValueError(f"{what} path {text!r} names a directory, not a file")
    shown = Path(path)
    path = Path(os.path.realpath(shown))
    if path.is_dir():
        raise ValueError(f"{what} path {shown} is a directory")
    if path.exists() and not path.is_file():
        raise ValueError(f"{what} path {shown} exists and is not a regular file")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the directory of {what} path {shown}: "
                         f"{e.strerror or e}") from None
    if not parent.is_dir():
        raise ValueError(f"{what} path {shown}: {parent} is not a directory")
    _probe(parent, f"{what} path {shown}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} path {shown} is not writable")
    return shown


def _probe(directory: Path, named: str) -> None:
    """Create and remove a file in ``directory``: permissions, read-only file systems and
    kernel folders all show (``os.access`` says yes to root everywhere)."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".panacea-", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{named} is not writable ({e.strerror or e})") from None


def check_output_dir(path, what: str = "output directory") -> Path:
    """Check, before any work, that ``path`` is (or can be made) a writable directory; it is
    created if missing.

    Raises
    ------
    ValueError
        Naming ``what`` and the path, if it cannot be.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create {what} {path}: {e.strerror or e}") from None
    _probe(path, f"{what} {path}")
    return path


def check_distinct(outputs: dict, inputs: dict) -> None:
    """Refuse outputs that would overwrite an input or each other.

    ``outputs`` and ``inputs`` map a description (``"--report"``) to a path (or ``None``).

    Raises
    ------
    ValueError
        Naming both, if two outputs, or an output and an input, are the same file.
    """
    def key(p):
        return os.path.realpath(p)
    seen = {}
    for what, p in [(w, p) for w, p in inputs.items() if p is not None]:
        seen.setdefault(key(p), what)
    for what, p in [(w, p) for w, p in outputs.items() if p is not None]:
        k = key(p)
        if k in seen:
            raise ValueError(f"{what} {p} would overwrite {seen[k]}: choose another path")
        seen[k] = what
