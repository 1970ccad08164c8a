"""The Verilog and RTLIL of a design for synthesis, and the map from its modules to the core's blocks.

The Verilog is exactly what :func:`amaranth.back.verilog.convert` writes for the component
(ports from its signature), the same text ``panacea generate`` writes for the core. Yosys
reads the RTLIL that :func:`amaranth.back.rtlil.convert` writes for the same component: the
Verilog is Yosys' ``write_verilog`` of that RTLIL after ``proc -nomux -norom;
memory_collect`` (Amaranth's own script, :data:`RTLIL_PREP`), and the flows run the same
passes on it, so they synthesize the design the Verilog describes without parsing a memory's
initial contents word by word (``docs/synthesis.md``, "Tool problems"). The block
of each module is the class of the Amaranth elaboratable it came from (PEA, SWO, ...);
submodules of unknown class belong to their parent's block.
"""

from __future__ import annotations

import re

from amaranth.hdl import Elaboratable

from .blocks import block_classes
from .tools import SynthError

__all__ = ["emit", "verilog_modules", "top_ports", "RTLIL_PREP", "FRONTEND", "read_core"]

#: The passes Amaranth runs on its RTLIL before ``write_verilog``
#: (``amaranth.back.verilog``); the flows run them after ``read_rtlil``.
RTLIL_PREP = ("proc -nomux -norom", "memory_collect")
#: What the flows read (``SynthResult.frontend``); cached results of another are not reused.
FRONTEND = "rtlil"


def read_core(rtlil_name):
    """The Yosys commands that read the core from ``rtlil_name`` (:data:`RTLIL_PREP` after)."""
    return [f"read_rtlil {rtlil_name}", *RTLIL_PREP]


def _classify(origins, classes):
    for o in origins or ():
        for cls, block in classes:
            if isinstance(o, cls):
                return block
    return None


def _fragment_blocks(fragment, top_name):
    """Map each Amaranth hierarchical module name (``top.pea0.swo``) to its block."""
    classes = block_classes()
    blocks = {}

    def walk(frag, path, parent_block):
        block = _classify(frag.origins, classes) or parent_block
        blocks[".".join(path)] = block
        for i, (sub, name, _src) in enumerate(frag.subfragments):
            walk(sub, path + (name if name is not None else f"U${i}",), block)

    walk(fragment, (top_name,), "top")
    return blocks


class _Recorder(Elaboratable):
    """Stands for a component in :func:`amaranth.back.verilog.convert` (same signature, same
    port values) and keeps the fragment the conversion elaborates, for the block map."""

    def __init__(self, component):
        self.signature = component.signature
        self._component = component
        self.fragment = None

    def __getattr__(self, name):        # the port values, as signature.flatten() reads them
        return getattr(self._component, name)

    def elaborate(self, platform):
        from amaranth.hdl import Fragment

        self.fragment = Fragment.get(self._component, platform)
        return self.fragment


def emit(component, name):
    """Deterministic Verilog and RTLIL of ``component`` with top module ``name``, and its block map.

    Public Amaranth API only: :func:`amaranth.back.verilog.convert` and
    :func:`amaranth.back.rtlil.convert` derive the ports from the signature (the component
    is elaborated once for each; elaboration is deterministic).

    Returns
    -------
    (str, str, dict)
        The Verilog text, the RTLIL text and ``{hierarchical module name: block}``
        (``BLOCKS`` keys).
    """
    from amaranth.back import rtlil, verilog
    from amaranth.lib import wiring

    from panacea_hdl.toolchain import use_pinned_yosys

    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"top must be an Amaranth wiring.Component, not {type(component).__name__}")
    use_pinned_yosys()
    rec = _Recorder(component)
    text = verilog.convert(rec, name=name, emit_src=False)
    il = rtlil.convert(component, name=name, emit_src=False)
    return text, il, _fragment_blocks(rec.fragment, name)


_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*\(", re.M)
_PORT_RE = re.compile(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s*)?(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s*;")


def verilog_modules(text):
    return [m.lstrip("\\") for m in _MODULE_RE.findall(text)]


def top_ports(text, top):
    """``[(direction, name, width)]`` of module ``top`` in Amaranth-emitted Verilog."""
    start = re.search(rf"^module\s+{re.escape(top)}\s*\(", text, re.M)
    if start is None:
        raise SynthError(f"module {top} not found in the Verilog")
    end = text.index("\nendmodule", start.end())
    ports = []
    for line in text[start.end():end].splitlines():
        m = _PORT_RE.match(line)
        if m:
            d, hi, lo, name = m.groups()
            ports.append((d, name, 1 if hi is None else int(hi) - int(lo) + 1))
    return ports

