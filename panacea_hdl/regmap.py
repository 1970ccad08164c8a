"""Register map of the Panacea core's AXI4-Lite CSR block (mirrors ``docs/registers.md``).

Addresses, field positions and codes are defined here once. This module imports no
Amaranth, so host software, testbenches and the CLI can use it freely.
"""

from __future__ import annotations

from enum import IntEnum

from golden_model.config import DIM_BITS
from golden_model.cycle_model import COUNTERS

__all__ = [
    "ErrorCode", "MODE_CODES", "MODE_NAMES",
    "CTRL", "STATUS", "MODE", "RVAL", "ZP", "SPLIT", "DIM_M", "DIM_K", "DIM_N",
    "ERR_WORD", "INFO", "KMAX", "COUNTER_BASE", "COUNTERS", "COUNTER_ADDR", "counter_addr",
    "CTRL_START", "CTRL_ABORT",
    "STATUS_BUSY", "STATUS_DONE", "STATUS_ERROR", "STATUS_ERRCODE_SHIFT", "STATUS_ERRCODE_MASK",
    "MODE_MASK", "RVAL_MASK", "ZP_MASK", "SPLIT_MASK", "DIM_MASK", "DIM_BITS",
    "INFO_G_SHIFT", "INFO_PEA_COLS_SHIFT", "INFO_NUM_PEAS_SHIFT", "INFO_RUN_BITS_SHIFT",
    "REGISTERS", "ADDR_BITS", "decode_status", "info_value",
]

#: Width of the AXI4-Lite byte address.
ADDR_BITS = 8

# ---- addresses ----------------------------------------------------------------------------
CTRL = 0x00       #: W: bit 0 START, bit 1 ABORT
STATUS = 0x04     #: R: bit 0 BUSY, 1 DONE, 2 ERROR, 7:4 ERRCODE
MODE = 0x08       #: RW 1:0
RVAL = 0x0C       #: RW 7:0
ZP = 0x10         #: RW 7:0
SPLIT = 0x14      #: RW 3:0
DIM_M = 0x18      #: RW 15:0
DIM_K = 0x1C      #: RW 15:0
DIM_N = 0x20      #: RW 15:0
ERR_WORD = 0x24   #: R 31:0
INFO = 0x28       #: R: 7:0 G, 15:8 pea_cols, 23:16 num_peas, 31:24 rle_run_bits
KMAX = 0x2C       #: R 31:0
COUNTER_BASE = 0x40  #: R: COUNTER[i] at COUNTER_BASE + 4*i, order of COUNTERS


def counter_addr(name_or_index) -> int:
    """Byte address of a performance counter given its name or index in ``COUNTERS``."""
    i = COUNTERS.index(name_or_index) if isinstance(name_or_index, str) else int(name_or_index)
    if not 0 <= i < len(COUNTERS):
        raise ValueError(f"counter index {i} out of range 0..{len(COUNTERS) - 1}")
    return COUNTER_BASE + 4 * i


#: name -> address of every counter.
COUNTER_ADDR = {name: counter_addr(i) for i, name in enumerate(COUNTERS)}

#: name -> (address, access) of every register (counters included).
REGISTERS = {
    "CTRL": (CTRL, "W"), "STATUS": (STATUS, "R"), "MODE": (MODE, "RW"), "RVAL": (RVAL, "RW"),
    "ZP": (ZP, "RW"), "SPLIT": (SPLIT, "RW"), "DIM_M": (DIM_M, "RW"), "DIM_K": (DIM_K, "RW"),
    "DIM_N": (DIM_N, "RW"), "ERR_WORD": (ERR_WORD, "R"), "INFO": (INFO, "R"), "KMAX": (KMAX, "R"),
    **{f"COUNTER_{name.upper()}": (addr, "R") for name, addr in COUNTER_ADDR.items()},
}

# ---- fields ---------------------------------------------------------------------------------
CTRL_START = 1 << 0
CTRL_ABORT = 1 << 1

STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1
STATUS_ERROR = 1 << 2
STATUS_ERRCODE_SHIFT = 4
STATUS_ERRCODE_MASK = 0xF

MODE_MASK = 0x3
RVAL_MASK = 0xFF
ZP_MASK = 0xFF
SPLIT_MASK = 0xF
DIM_MASK = (1 << DIM_BITS) - 1     #: DIM_M / DIM_K / DIM_N hold DIM_BITS bits

INFO_G_SHIFT = 0
INFO_PEA_COLS_SHIFT = 8
INFO_NUM_PEAS_SHIFT = 16
INFO_RUN_BITS_SHIFT = 24

#: MODE register values.
MODE_CODES = {"dense": 0, "sibia": 1, "aqs": 2}
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
    fields = ((config.group_size, INFO_G_SHIFT), (config.pea_cols, INFO_PEA_COLS_SHIFT),
              (config.num_peas, INFO_NUM_PEAS_SHIFT), (config.rle_run_bits, INFO_RUN_BITS_SHIFT))
    v = 0
    for value, shift in fields:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"INFO field value {value} does not fit 8 bits")
        v |= value << shift
    return v
