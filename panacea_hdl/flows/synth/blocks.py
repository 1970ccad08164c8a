"""The blocks of the per-block area breakdown: one table, read by the block map and the report.

Each row: the block's key, its description, and the Amaranth classes whose modules belong to
it (``module:Class``), most specific rows first. A module of a class not listed belongs to its
parent's block. Adding an RTL block to the breakdown is one row here.
"""

from __future__ import annotations

__all__ = ["BLOCK_TABLE", "BLOCKS", "block_classes"]

BLOCK_TABLE = (
    ("swo", "SWO (static workload, dense LO)", ("panacea_hdl.rtl.pea.swo:SWO",)),
    ("dwo", "DWO (dynamic workload, sparse HO)", ("panacea_hdl.rtl.pea.dwo:DWO",)),
    ("compensator", "compensator", ("panacea_hdl.rtl.pea.compensator:Compensator",)),
    ("weight_buffer", "weight buffer", ("panacea_hdl.rtl.pea.weight_buffer:WeightBuffer",)),
    ("accumulators", "accumulators (one per PE)", ("panacea_hdl.rtl.pea.accumulators:Accumulators",)),
    ("pea", "PEA (wiring of its blocks)", ("panacea_hdl.rtl.pea.pea:PEA",)),
    ("int8_pea", "INT8 PE array (dense variant)", ("panacea_hdl.rtl.pea.int8_pea:Int8PEA",)),
    ("beat_issuer", "beat issuer (dense variant)", ("panacea_hdl.rtl.pea.int8_pea:BeatIssuer",)),
    ("rle_decoder", "RLE decoder", ("panacea_hdl.rtl.rle_decoder:RLEDecoder",)),
    ("skip_controller", "skip controller", ("panacea_hdl.rtl.skip_controller:SkipController",)),
    ("csr", "CSR (registers, counters)", ("panacea_hdl.rtl.csr:CSR",)),
    ("params", "parameter check", ("panacea_hdl.rtl.params:ParamCheck",)),
    ("sequencer", "sequencer", ("panacea_hdl.rtl.sequencer:Sequencer",)),
    ("output_bank", "output bank", ("panacea_hdl.rtl.output_bank:OutputBank",)),
    ("requant", "requantization stage", ("panacea_hdl.rtl.requant:RequantStage",)),
    ("act_buffer", "activation buffer (lo, ho)", ("panacea_hdl.rtl.act_buffer:ActBuffer",)),
    ("unpackers", "lo / ho stream unpackers", ("panacea_hdl.rtl.unpack:LoUnpacker",
                                               "panacea_hdl.rtl.unpack:HoUnpacker")),
    ("axi_adapters", "AXI-Stream adapters", ("panacea_hdl.rtl.axi:AXIStreamToStream",
                                             "panacea_hdl.rtl.axi:StreamToAXIStream")),
    ("top", "top (issue register, wiring)", ("panacea_hdl.rtl.top:PanaceaCore",)),
)

#: Block key -> description, in report order.
_REPORT_ORDER = ("pea", "accumulators", "int8_pea", "weight_buffer", "swo", "dwo", "compensator",
                 "rle_decoder", "skip_controller", "beat_issuer", "csr", "params", "sequencer",
                 "output_bank", "requant", "act_buffer", "unpackers", "axi_adapters", "top")
BLOCKS = {key: dict((k, d) for k, d, _ in BLOCK_TABLE)[key] for key in _REPORT_ORDER}


def block_classes():
    """``[(class, block)]`` in table order; classes that cannot be imported are left out."""
    import importlib

    out = []
    for block, _, refs in BLOCK_TABLE:
        for ref in refs:
            mod, cls = ref.split(":")
            try:
                out.append((getattr(importlib.import_module(mod), cls), block))
            except (ImportError, AttributeError):
                pass
    return out
