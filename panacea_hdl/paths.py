"""Where generated files go, and how concurrent runs share them safely.

Build root: ``--build-dir`` (CLI) or ``$PANACEA_BUILD_DIR``, else ``build/`` in the current
directory — never the package's own folder. Every design gets its own directory
``<root>/<name>-<digest>/`` keyed by the content digest of its config
(:attr:`golden_model.config.PanaceaConfig.digest`), so two configs that share a name never
share Verilog or simulator builds. Work that must not run twice at once on one directory
(Verilog generation, a simulator build) holds :func:`file_lock` on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["BUILD_DIR_ENV", "build_root", "design_dir", "file_lock"]

#: Environment variable naming the build root (set by ``panacea --build-dir``).
BUILD_DIR_ENV = "PANACEA_BUILD_DIR"


def build_root() -> Path:
    """The build root: ``$PANACEA_BUILD_DIR`` or ``./build`` (absolute)."""
    return Path(os.environ.get(BUILD_DIR_ENV) or Path.cwd() / "build").resolve()


def design_dir(config) -> Path:
    """``<build root>/<name>-<digest>``: the directory of one design's generated files."""
    return build_root() / f"{config.name}-{config.digest}"


@contextlib.contextmanager
def file_lock(directory):
    """Hold an exclusive lock on ``directory`` (``.lock`` inside it; created if missing).

    Blocks until no other process holds it; released on exit, also when the holder dies.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
