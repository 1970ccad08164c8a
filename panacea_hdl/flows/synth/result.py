"""What a synthesis run returns (:func:`panacea_hdl.flows.synth.run_synth`).

One dataclass per flow's figures and one for the run; ``to_dict`` gives the flat JSON written
as ``synth.json`` (flow figures at the top level beside the run's fields) and ``from_dict``
reads it back (the comparison reuses cached results).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

__all__ = ["GenericArea", "FpgaResult", "SynthResult"]


@dataclass(frozen=True)
class GenericArea:
    """Figures of the generic flow (Yosys gate library; :mod:`.generic`).

    Attributes
    ----------
    cells, flip_flops : int
        Generic cells of the whole design and the flip-flops among them.
    cells_by_type, cmos_cells_by_type : dict
        Cell type -> count, after ``synth`` and after ``abc -g cmos2``.
    transistors : int
        CMOS logic estimate (NAND/NOR/NOT/DFF at 4/4/2/16 transistors), memories excluded.
    memory_bits, memory_transistors : int
        Bits of the memories kept as macros and their bit-cell transistors (6 per bit plus 2
        per read port per bit).
    transistors_with_memory : int
        ``transistors + memory_transistors``.
    memories : list of dict
        ``module, width, depth, rd_ports, wr_ports`` of each memory.
    blocks : dict
        Block name (:data:`BLOCKS`) -> ``instances, cells, transistors, memory_bits,
        memory_transistors`` (all instances counted).
    modules : dict
        Hierarchical module name -> its block, instances and own figures.
    """

    cells: int
    cells_by_type: dict
    flip_flops: int
    transistors: int
    cmos_cells_by_type: dict
    memory_bits: int
    memory_transistors: int
    transistors_with_memory: int
    memories: list
    blocks: dict
    modules: dict


@dataclass(frozen=True)
class FpgaResult:
    """Figures of an FPGA flow (:mod:`.fpga`).

    Attributes
    ----------
    device : str
    freq_target_mhz : float
        nextpnr's target clock.
    seed : int
        Placer seed.
    dsp : str
        Where the multipliers went (LUTs or DSP blocks, and why).
    core, wrapper : dict
        ``LUT4, LUT4_equiv, FF, BRAM, DSP, ...`` of the core module and of the I/O wrapper
        (the wrapper also ``in_bits, out_bits, ffs``).
    core_cells_by_type : dict
    fits : bool or None
        Whether it fits the device (None: not checked).
    fit_message : str
    fmax_mhz : float or None
        Post-route Fmax of ``clk`` (None when it did not fit).
    utilization : dict
        nextpnr's ``{bel type: {used, available}}``.
    fmax_by_clock : dict
        Post-route Fmax per clock net.
    router : str
        nextpnr's router (results before the option existed: ``router1``, its default).
    """

    device: str
    freq_target_mhz: float
    seed: int
    dsp: str
    core: dict
    core_cells_by_type: dict
    wrapper: dict
    fits: bool | None
    fit_message: str
    fmax_mhz: float | None
    utilization: dict
    fmax_by_clock: dict = field(default_factory=dict)
    router: str = "router1"


@dataclass(frozen=True)
class SynthResult:
    """One synthesis run.

    Attributes
    ----------
    target : {"generic", "ecp5", "ice40"}
    top : str
        Verilog module synthesized.
    config : dict
        The design's config (``PanaceaConfig.to_dict()``).
    out_dir : str
        Build directory (Verilog, scripts, logs, ``synth.json``).
    tool : str
    runtime_s : dict
        Seconds per step (``verilog``, ``yosys``, ``nextpnr``) and ``total``.
    generic : GenericArea or None
        Present for the generic target.
    fpga : FpgaResult or None
        Present for an FPGA target.
    frontend : {"rtlil", "verilog"}
        What Yosys read: Amaranth's RTLIL (every run since the option existed) or its Verilog
        (results written before; ``docs/synthesis.md``, "Tool problems").
    """

    target: str
    top: str
    config: dict
    out_dir: str
    tool: str
    runtime_s: dict
    generic: GenericArea | None = None
    fpga: FpgaResult | None = None
    frontend: str = "verilog"

    def to_dict(self) -> dict:
        """The flat JSON form (``synth.json``)."""
        d = {k: getattr(self, k) for k in ("target", "top", "config", "out_dir", "tool", "frontend")}
        d.update(asdict(self.generic) if self.generic is not None else {})
        d.update(asdict(self.fpga) if self.fpga is not None else {})
        d["runtime_s"] = self.runtime_s
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SynthResult":
        """Read :meth:`to_dict`'s form back; raises ``KeyError``/``TypeError`` if malformed."""
        def part(kind):
            names = [f.name for f in fields(kind)]
            required = [f.name for f in fields(kind)
                        if f.default is MISSING and f.default_factory is MISSING]
            if not all(n in d for n in required):
                return None
            return kind(**{n: d[n] for n in names if n in d})
        return cls(target=d["target"], top=d["top"], config=d["config"], out_dir=d["out_dir"],
                   tool=d["tool"], runtime_s=d["runtime_s"], frontend=d.get("frontend", "verilog"),
                   generic=part(GenericArea) if d["target"] == "generic" else None,
                   fpga=part(FpgaResult) if d["target"] != "generic" else None)
