"""Register map of the Panacea core's AXI4-Lite CSR block (mirrors ``docs/registers.md``).

Addresses, field positions and codes are defined here once. This module imports no
Amaranth, so host software, testbenches and the CLI can use it freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from golden_model.aqs_gemm import MODES
from golden_model.config import DIM_BITS, VARIANTS
from golden_model.cycle_model import ABUF_COUNTERS, COUNTERS

__all__ = [
    "Mode", "Field", "Register", "REGISTER_MAP", "register", "markdown_table",
    "ErrorCode", "ALL_COUNTERS", "MODE_CODES", "MODE_NAMES", "INFO_VARIANT_SHIFT",
    "CTRL", "STATUS", "MODE", "RVAL", "ZP", "SPLIT", "DIM_M", "DIM_K", "DIM_N",
    "ERR_WORD", "INFO", "KMAX", "REQUANT", "REQUANT_EN", "REQUANT_ZP_SHIFT", "requant_value",
    "COUNTER_BASE", "COUNTERS", "COUNTER_ADDR", "counter_addr",
    "CTRL_START", "CTRL_ABORT",
    "STATUS_BUSY", "STATUS_DONE", "STATUS_ERROR", "STATUS_ERRCODE_SHIFT", "STATUS_ERRCODE_MASK",
    "MODE_MASK", "RVAL_MASK", "ZP_MASK", "SPLIT_MASK", "DIM_MASK", "DIM_BITS",
    "INFO_G_SHIFT", "INFO_PEA_COLS_SHIFT", "INFO_NUM_PEAS_SHIFT", "INFO_RUN_BITS_SHIFT",
    "REGISTERS", "ADDR_BITS", "decode_status", "info_value",
]

#: Width of the AXI4-Lite byte address.
ADDR_BITS = 8


class Mode(IntEnum):
    """MODE register values, in the order of ``golden_model.aqs_gemm.MODES``."""

    DENSE = 0
    SIBIA = 1
    AQS = 2


assert tuple(m.name.lower() for m in Mode) == MODES


@dataclass(frozen=True)
class Field:
    """A field of a register: ``width`` bits from bit ``offset``."""

    name: str
    offset: int
    width: int
    doc: str = ""

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def bits(self) -> str:
        hi = self.offset + self.width - 1
        return f"{hi}:{self.offset}" if self.width > 1 else f"{self.offset}"


@dataclass(frozen=True)
class Register:
    """A 32-bit register: byte address, access (``R``, ``W``, ``RW``), fields, meaning."""

    name: str
    addr: int
    access: str
    fields: tuple
    doc: str

    def field(self, name) -> Field:
        return next(f for f in self.fields if f.name == name)


def _value_field(width, name="value"):
    return (Field(name, 0, width),)


#: The register map, in address order: the one declaration the CSR block, the hosts and
#: ``docs/registers.md`` (whose table is :func:`markdown_table`, checked by a test) follow.
REGISTER_MAP = (
    Register("CTRL", 0x00, "W", (Field("START", 0, 1), Field("ABORT", 1, 1)),
             "START begins a GEMM (ignored while busy); ABORT returns to idle with error ABORTED"),
    Register("STATUS", 0x04, "R", (Field("BUSY", 0, 1), Field("DONE", 1, 1),
                                   Field("ERROR", 2, 1), Field("ERRCODE", 4, 4)),
             "DONE and ERROR clear at START"),
    Register("MODE", 0x08, "RW", _value_field(2),
             "0 dense, 1 sibia, 2 aqs (the baseline variants accept only their modes, see below)"),
    Register("RVAL", 0x0C, "RW", _value_field(8),
             "r, the skipped high-order value in aqs mode; reads 0 in the baseline variants "
             "(no r logic)"),
    Register("ZP", 0x10, "RW", _value_field(8), "activation zero point z"),
    Register("SPLIT", 0x14, "RW", _value_field(4), "L; must be one of the config's splits"),
    Register("DIM_M", 0x18, "RW", _value_field(DIM_BITS), "M, rows of A"),
    Register("DIM_K", 0x1C, "RW", _value_field(DIM_BITS), "K, 1..k_max"),
    Register("DIM_N", 0x20, "RW", _value_field(DIM_BITS), "N, columns of W"),
    Register("ERR_WORD", 0x24, "R", _value_field(32),
             "index (in the GEMM's ho stream) of the malformed RLE word; of a truncated packed "
             "pass, the index of its first missing lo vector / ho word in the GEMM's stream"),
    Register("INFO", 0x28, "R", (Field("G", 0, 8), Field("pea_cols", 8, 8),
                                 Field("num_peas", 16, 8), Field("rle_run_bits", 24, 5),
                                 Field("variant", 29, 3)),
             "identifies the build; variant: 0 panacea, 1 sibia, 2 dense "
             "(the order of `golden_model.config.VARIANTS`)"),
    Register("KMAX", 0x2C, "R", _value_field(32), "k_max"),
    Register("REQUANT", 0x30, "RW", (Field("EN", 0, 1), Field("OUT_ZP", 8, 8)),
             "builds with `requant` only (else unmapped): EN requantizes this GEMM's results to "
             "uint8 with output zero point OUT_ZP and the per-column bias, multiplier and shift "
             "of the header before each column block's weights on `w` (`docs/formats.md`)"),
)
#: Performance counters: COUNTER[i] at COUNTER_BASE + 4*i, in the order of ``ALL_COUNTERS``
#: (``COUNTERS``, then ``ABUF_COUNTERS``, mapped in builds with an activation buffer only).
COUNTER_BASE = 0x40
ALL_COUNTERS = COUNTERS + ABUF_COUNTERS

_BY_NAME = {r.name: r for r in REGISTER_MAP}


def register(name) -> Register:
    """The :class:`Register` called ``name``."""
    return _BY_NAME[name]


# ---- addresses (from the table) -----------------------------------------------------------
CTRL, STATUS, MODE, RVAL, ZP, SPLIT, DIM_M, DIM_K, DIM_N, ERR_WORD, INFO, KMAX, REQUANT = (
    r.addr for r in REGISTER_MAP)


def counter_addr(name_or_index) -> int:
    """Byte address of a performance counter given its name or index in ``COUNTERS``."""
    i = ALL_COUNTERS.index(name_or_index) if isinstance(name_or_index, str) else int(name_or_index)
    if not 0 <= i < len(ALL_COUNTERS):
        raise ValueError(f"counter index {i} out of range 0..{len(ALL_COUNTERS) - 1}")
    return COUNTER_BASE + 4 * i


#: name -> address of every counter.
COUNTER_ADDR = {name: counter_addr(i) for i, name in enumerate(ALL_COUNTERS)}

#: name -> (address, access) of every register (counters included).
REGISTERS = {
    **{r.name: (r.addr, r.access) for r in REGISTER_MAP},
    **{f"COUNTER_{name.upper()}": (addr, "R") for name, addr in COUNTER_ADDR.items()},
}

# ---- fields (from the table) ----------------------------------------------------------------
CTRL_START = 1 << register("CTRL").field("START").offset
CTRL_ABORT = 1 << register("CTRL").field("ABORT").offset

STATUS_BUSY = 1 << register("STATUS").field("BUSY").offset
STATUS_DONE = 1 << register("STATUS").field("DONE").offset
STATUS_ERROR = 1 << register("STATUS").field("ERROR").offset
STATUS_ERRCODE_SHIFT = register("STATUS").field("ERRCODE").offset
STATUS_ERRCODE_MASK = register("STATUS").field("ERRCODE").mask

MODE_MASK = register("MODE").field("value").mask
RVAL_MASK = register("RVAL").field("value").mask
ZP_MASK = register("ZP").field("value").mask
SPLIT_MASK = register("SPLIT").field("value").mask
DIM_MASK = (1 << DIM_BITS) - 1     #: DIM_M / DIM_K / DIM_N hold DIM_BITS bits

INFO_G_SHIFT = register("INFO").field("G").offset
INFO_PEA_COLS_SHIFT = register("INFO").field("pea_cols").offset
INFO_NUM_PEAS_SHIFT = register("INFO").field("num_peas").offset
INFO_RUN_BITS_SHIFT = register("INFO").field("rle_run_bits").offset
INFO_VARIANT_SHIFT = register("INFO").field("variant").offset

REQUANT_EN = 1 << register("REQUANT").field("EN").offset
REQUANT_ZP_SHIFT = register("REQUANT").field("OUT_ZP").offset


def requant_value(enable: bool, out_zp: int = 0) -> int:
    """The REQUANT register value: EN and OUT_ZP."""
    if not 0 <= int(out_zp) <= register("REQUANT").field("OUT_ZP").mask:
        raise ValueError(f"OUT_ZP {out_zp} does not fit 8 bits")
    return (REQUANT_EN if enable else 0) | int(out_zp) << REQUANT_ZP_SHIFT


#: MODE register values by mode name.
MODE_CODES = {m.name.lower(): int(m) for m in Mode}
MODE_NAMES = {v: k for k, v in MODE_CODES.items()}


class ErrorCode(IntEnum):
    """STATUS.ERRCODE values."""

    NONE = 0
    BAD_PARAM = 1      #: at START: bad MODE/SPLIT/RVAL, M/K/N zero, K > k_max
    RLE_KIND = 2       #: RLE word of reserved kind 3
    RLE_DATA = 3       #: SKIP or END word with nonzero data
    RLE_OVERRUN = 4    #: a run or literal goes past K
    RLE_SHORT = 5      #: END before position K
    RLE_DENSE_RUN = 6  #: nonzero run in dense mode
    ABORTED = 7        #: the host wrote CTRL.ABORT
    RLE_SKIP_RUN = 8   #: SKIP word whose run is not the escape run 2**R - 1
    ABUF_OVERFLOW = 9  #: a run's lo or ho beats exceed the activation buffer (block M)
    LO_TRUNCATED = 10  #: a packed lo pass ends (TLAST) before its K-th vector
    HO_TRUNCATED = 11  #: a packed ho pass ends (TLAST) before its last END word


#: ``golden_model.formats.RLEError.reason`` -> the error code the hardware reports for it
#: (a truncated stream is no error for the hardware: it waits for more words).
RLE_ERROR_CODES = {
    "kind": ErrorCode.RLE_KIND,
    "data": ErrorCode.RLE_DATA,
    "skip_run": ErrorCode.RLE_SKIP_RUN,
    "overrun": ErrorCode.RLE_OVERRUN,
    "short": ErrorCode.RLE_SHORT,
}


def decode_status(value: int) -> dict:
    """Split a STATUS read into ``busy``, ``done``, ``error`` and ``errcode`` (an ErrorCode)."""
    value = int(value)
    return {
        "busy": bool(value & STATUS_BUSY),
        "done": bool(value & STATUS_DONE),
        "error": bool(value & STATUS_ERROR),
        "errcode": ErrorCode((value >> STATUS_ERRCODE_SHIFT) & STATUS_ERRCODE_MASK),
    }


def info_value(config) -> int:
    """The INFO register value of a build of ``config`` (a ``PanaceaConfig``)."""
    values = {"G": config.group_size, "pea_cols": config.pea_cols,
              "num_peas": config.num_peas, "rle_run_bits": config.rle_run_bits,
              "variant": VARIANTS.index(config.variant)}
    v = 0
    for f in register("INFO").fields:
        if not 0 <= values[f.name] <= f.mask:
            raise ValueError(f"INFO.{f.name} value {values[f.name]} does not fit {f.width} bits")
        v |= values[f.name] << f.offset
    return v


def decode_info(value: int) -> dict:
    """Split an INFO read into its fields (``variant`` as its name)."""
    d = {f.name: (int(value) >> f.offset) & f.mask for f in register("INFO").fields}
    d["variant"] = VARIANTS[d["variant"]] if d["variant"] < len(VARIANTS) else d["variant"]
    return d


def markdown_table() -> str:
    """The register table of ``docs/registers.md``, made from :data:`REGISTER_MAP`."""
    rows = ["| addr | name | access | bits | meaning |", "|---|---|---|---|---|"]
    for r in REGISTER_MAP:
        if len(r.fields) == 1 and r.fields[0].name == "value":
            bits = r.fields[0].bits
        else:
            bits = ", ".join(f"{f.bits} {f.name}" for f in r.fields)
        rows.append(f"| 0x{r.addr:02X} | {r.name} | {r.access} | {bits} | {r.doc} |")
    rows.append(f"| 0x{COUNTER_BASE:02X} + 4i | COUNTER[i] | R | 31:0 | performance counter i, in "
                f"the order of `golden_model.cycle_model.COUNTERS`, then (builds with "
                f"`act_buffer_bytes` only, else unmapped) `ABUF_COUNTERS`; cleared at START |")
    return "\n".join(rows) + "\n"
