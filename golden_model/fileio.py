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
           "check_output_path"]


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


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

    Its directory must exist (or be creatable: missing parents are created) and be writable,
    and ``path`` must not be a directory.

    Raises
    ------
    ValueError
        Naming ``what`` and the path, if it cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} path {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the directory of {what} path {path}: "
                         f"{e.strerror or e}") from None
    if not parent.is_dir():
        raise ValueError(f"{what} path {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{what} path {path} is not writable")
    return path
