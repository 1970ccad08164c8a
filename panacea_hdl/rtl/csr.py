"""AXI4-Lite register file of the Panacea core (``docs/registers.md``, ``panacea_hdl.regmap``).

The CSR block holds the parameter registers and the performance counters; the status bits
(BUSY, DONE, ERROR, ERRCODE) and ERR_WORD come from the top level's sequencer.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from golden_model.cycle_model import counter_names
from panacea_hdl import regmap
from panacea_hdl.rtl.axi import RESP_OKAY, RESP_SLVERR, AXI4LiteSignature
from panacea_hdl.rtl.layouts import ConfigComponent, check_config

__all__ = ["CSR", "COUNTER_BITS", "counter_inc_bits"]

#: Width of a performance counter (wraps modulo 2**32).
COUNTER_BITS = 32


def counter_inc_bits(config) -> int:
    """Width of one counter's per-cycle increment input.

    The largest per-cycle increments are ``skipped`` (up to ``max_run``), ``ext_in_words``
    (w + lo + ho: up to 3) and ``wbuf_reads`` (SWO + DWO: up to 2).
    """
    cfg = check_config(config)
    return max(2, cfg.rle_run_bits)


class CSR(ConfigComponent):
    """AXI4-Lite subordinate register file.

    One outstanding write and one outstanding read: a write is performed once both its
    address and data have been accepted, then its response is held until ``bready``; a read
    is answered in the cycle after its address is accepted and held until ``rready``. Nothing
    waits on the core, so the block never hangs. Unmapped addresses, writes to read-only
    registers, reads of CTRL and writes to the parameter registers while BUSY get SLVERR
    (and change nothing). Byte strobes apply to the read/write registers; CTRL acts on
    ``wstrb[0]``. Only the word address matters (``addr[1:0]`` are ignored).

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (INFO and KMAX read back from them; the SPLIT register resets to
        4 if the design supports it, else to its smallest split). The baseline variants
        (``sibia``, ``dense``) have no r logic: RVAL accepts writes like the other parameter
        registers but holds nothing and reads 0 (``rval`` is the constant 0).

    Attributes
    ----------
    bus : In(AXI4LiteSignature(addr_width=8, data_width=32))
        The host port.
    mode, rval, zp, split, dim_m, dim_k, dim_n : Out
        Register values (2, 8, 8, 4 bits; the dimensions ``regmap.DIM_BITS`` = 16 bits).
    start, abort : Out(1)
        One-cycle pulses: the host wrote CTRL with bit 0 / bit 1 set.
    busy, done, error : In(1)
        STATUS bits from the sequencer.
    errcode : In(4)
        STATUS.ERRCODE.
    err_word : In(32)
        ERR_WORD.
    counters_clear : In(1)
        Clear every counter at the end of this cycle (takes precedence over increments).
    counter_inc : In(ArrayLayout(unsigned(counter_inc_bits), len(counter_names(config))))
        Per-cycle increment of each counter, in the order of
        ``golden_model.cycle_model.counter_names(config)`` (``regmap.COUNTERS``, then the
        activation buffer's in builds with one). It is registered
        and reaches the counter one cycle later (the counters lag the events by one cycle;
        ``counters_clear`` also drops the increment in flight).
    counters : Out(ArrayLayout(unsigned(32), len(counter_names(config))))
        Counter values (also readable over the bus).
    rq_en, rq_zp : Out(1), Out(8)
        REQUANT.EN and REQUANT.OUT_ZP (builds with ``config.requant`` only; without it the
        address is unmapped).
    """

    def __init__(self, *, config):
        self._config = check_config(config)
        cfg = self._config
        n = len(counter_names(self._config))
        super().__init__({
            "bus": In(AXI4LiteSignature(addr_width=regmap.ADDR_BITS, data_width=32)),
            **{name: Out(regmap.register(name.upper()).field("value").width)
               for name in ("mode", "rval", "zp", "split")},
            "dim_m": Out(regmap.DIM_BITS), "dim_k": Out(regmap.DIM_BITS), "dim_n": Out(regmap.DIM_BITS),
            "start": Out(1), "abort": Out(1),
            "busy": In(1), "done": In(1), "error": In(1), "errcode": In(4), "err_word": In(32),
            "counters_clear": In(1),
            "counter_inc": In(data.ArrayLayout(unsigned(counter_inc_bits(cfg)), n)),
            "counters": Out(data.ArrayLayout(unsigned(COUNTER_BITS), n)),
            **({"rq_en": Out(1), "rq_zp": Out(8)} if cfg.requant else {}),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        bus = self.bus
        split_init = cfg.default_split

        # ---- parameter registers: name -> (address, signal, width) ---------------------------
        params = {
            regmap.MODE: self.mode, regmap.RVAL: self.rval, regmap.ZP: self.zp,
            regmap.SPLIT: self.split, regmap.DIM_M: self.dim_m, regmap.DIM_K: self.dim_k,
            regmap.DIM_N: self.dim_n,
        }
        regs = {addr: Signal(len(sig), name=f"reg_{addr:02x}",
                             init=split_init if addr == regmap.SPLIT else 0)
                for addr, sig in params.items()}
        for addr, sig in params.items():
            m.d.comb += sig.eq(regs[addr])
        if cfg.requant:         # REQUANT: EN (bit 0) and OUT_ZP (15:8); the other bits read 0
            rq_reg = regmap.register("REQUANT")
            rq_mask = sum(f.mask << f.offset for f in rq_reg.fields)
            regs[regmap.REQUANT] = Signal(16, name=f"reg_{regmap.REQUANT:02x}")
            m.d.comb += [self.rq_en.eq(regs[regmap.REQUANT][0]),
                         self.rq_zp.eq(regs[regmap.REQUANT][regmap.REQUANT_ZP_SHIFT:][:8])]

        # ---- counters ------------------------------------------------------------------------
        # the increments are registered first: they come from the stream handshakes and the
        # decoder, and must not add a 32-bit carry chain to those paths
        names = counter_names(self._config)
        counters = [Signal(COUNTER_BITS, name=f"counter_{name}") for name in names]
        for i, c in enumerate(counters):
            inc = Signal.like(self.counter_inc[i], name=f"inc_{names[i]}")
            m.d.comb += self.counters[i].eq(c)
            with m.If(self.counters_clear):
                m.d.sync += [c.eq(0), inc.eq(0)]
            with m.Else():
                m.d.sync += [c.eq(c + inc), inc.eq(self.counter_inc[i])]

        # ---- read-only values -------------------------------------------------------------------
        status = Signal(32)
        m.d.comb += status.eq(self.busy | (self.done << 1) | (self.error << 2)
                              | (self.errcode << regmap.STATUS_ERRCODE_SHIFT))
        readable = {addr: reg for addr, reg in regs.items()}
        readable[regmap.STATUS] = status
        readable[regmap.ERR_WORD] = self.err_word
        readable[regmap.INFO] = Const(regmap.info_value(cfg), 32)
        readable[regmap.KMAX] = Const(cfg.k_max, 32)
        for i, c in enumerate(counters):
            readable[regmap.counter_addr(i)] = c

        # ---- write channel: latch AW and W, perform, respond -----------------------------------
        word_bits = regmap.ADDR_BITS - 2
        aw_full = Signal()
        aw_word = Signal(word_bits)
        w_full = Signal()
        w_data = Signal(32)
        w_strb = Signal(4)
        m.d.comb += [
            bus.awready.eq(~aw_full & ~bus.bvalid),
            bus.wready.eq(~w_full & ~bus.bvalid),
        ]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]

        do_write = Signal()
        write_ok = Signal()
        m.d.comb += do_write.eq(aw_full & w_full)
        bit_mask = Signal(32)
        m.d.comb += bit_mask.eq(Mux(w_strb[0], 0xFF, 0) | Mux(w_strb[1], 0xFF00, 0)
                                | Mux(w_strb[2], 0xFF0000, 0) | Mux(w_strb[3], 0xFF000000, 0))
        with m.Switch(aw_word):
            with m.Case(regmap.CTRL >> 2):
                m.d.comb += [
                    write_ok.eq(1),
                    self.start.eq(do_write & w_strb[0] & w_data[0]),
                    self.abort.eq(do_write & w_strb[0] & w_data[1]),
                ]
            for addr, reg in regs.items():
                with m.Case(addr >> 2):
                    m.d.comb += write_ok.eq(~self.busy)
                    if addr == regmap.RVAL and not cfg.caps.skip_value:
                        continue        # no r logic: RVAL stays 0
                    with m.If(do_write & ~self.busy):
                        merged = (reg & ~bit_mask[:len(reg)]) | (w_data[:len(reg)] & bit_mask[:len(reg)])
                        if addr == regmap.REQUANT:
                            merged = merged & rq_mask
                        m.d.sync += reg.eq(merged)
        with m.If(do_write):
            m.d.sync += [
                aw_full.eq(0), w_full.eq(0),
                bus.bvalid.eq(1), bus.bresp.eq(Mux(write_ok, RESP_OKAY, RESP_SLVERR)),
            ]
        with m.Elif(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        # ---- read channel -----------------------------------------------------------------------
        # the address is registered at the AR handshake and the data selected in the next
        # cycle: the read multiplexer is not behind the address decode of the bus inputs
        ar_full = Signal()
        ar_addr = Signal.like(bus.araddr[2:], name="ar_word")
        m.d.comb += bus.arready.eq(~ar_full & ~bus.rvalid)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(bus.araddr[2:])]
        with m.Elif(ar_full):
            m.d.sync += [ar_full.eq(0), bus.rvalid.eq(1)]
            with m.Switch(ar_addr):
                for addr, value in readable.items():
                    with m.Case(addr >> 2):
                        m.d.sync += [bus.rdata.eq(value), bus.rresp.eq(RESP_OKAY)]
                with m.Default():
                    m.d.sync += [bus.rdata.eq(0), bus.rresp.eq(RESP_SLVERR)]
        with m.Elif(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m
