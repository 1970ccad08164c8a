"""Output bank of the core: one pass's results, sent one row per ``y`` beat while the next
pass runs."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from panacea_hdl.rtl.layouts import ConfigComponent, check_config, y_beat_layout

__all__ = ["OutputBank"]


class OutputBank(ConfigComponent):
    """Holds ``rows_per_pass`` output rows of ``cols`` int32 lanes and sends them in order.

    ``load`` (the HANDOFF copy) takes ``rows`` and the number of valid rows ``load_count``
    (the rows beyond it are padding and are not sent); ``load_last`` marks the GEMM's last
    pass, whose last row carries ``y_last``. The rows stay in place: a beat only moves a read
    pointer (the stream's ready must not enable every row's flip-flops). ``flush`` (an error or
    ABORT) drops the rows not yet sent, except a beat already on offer (``valid`` without
    ``ready``), which AXI4-Stream requires to stay, with its ``last``, until it is taken.

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (keyword only).

    Attributes
    ----------
    rows : In(ArrayLayout(y_beat_layout, rows_per_pass))
        The pass's results, row r of the pass in element r.
    load : In(1)
        Copy ``rows`` this cycle (only when :attr:`empty`).
    load_count : In(range(rows_per_pass + 1))
        Valid rows of the pass being loaded.
    load_last : In(1)
        The pass being loaded is the GEMM's last.
    flush : In(1)
        Drop what is not on offer.
    y : Out(stream.Signature(y_beat_layout))
        The rows, one per beat.
    y_last : Out(1)
        The beat on ``y`` is the GEMM's last (qualified by ``y.valid``).
    empty : Out(1)
        Nothing left to send.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "rows": In(data.ArrayLayout(y_beat_layout(cfg), cfg.rows_per_pass)),
            "load": In(1),
            "load_count": In(range(cfg.rows_per_pass + 1)),
            "load_last": In(1),
            "flush": In(1),
            "y": Out(stream.Signature(y_beat_layout(cfg))),
            "y_last": Out(1),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        rows_pp = cfg.rows_per_pass
        m = Module()
        bank = [Signal(y_beat_layout(cfg), name=f"bank_{r}") for r in range(rows_pp)]
        count = Signal(range(rows_pp + 1))
        ptr = Signal(range(rows_pp))
        last = Signal()                           # the bank holds the GEMM's last pass
        go = Signal()
        with m.Switch(ptr):
            for r in range(rows_pp):
                with m.Case(r):
                    m.d.comb += self.y.payload.eq(bank[r])
        m.d.comb += [
            self.y.valid.eq(count != 0),
            self.y_last.eq(last & (count == 1)),
            go.eq(self.y.valid & self.y.ready),
            self.empty.eq(count == 0),
        ]
        # the rows do not depend on flush (an error or ABORT only has to empty the count):
        # flush comes from the CSR decode and the RLE decoder, and must not fan out to
        # every bank flip-flop
        with m.If(self.load):
            for r in range(rows_pp):
                m.d.sync += bank[r].eq(self.rows[r])
            m.d.sync += ptr.eq(0)
        with m.Elif(go):
            m.d.sync += ptr.eq(ptr + 1)
        with m.If(self.flush):
            keep = self.y.valid & ~self.y.ready
            m.d.sync += [count.eq(keep), last.eq(keep & self.y_last)]
        with m.Elif(self.load):
            m.d.sync += [count.eq(self.load_count), last.eq(self.load_last)]
        with m.Elif(go):
            m.d.sync += count.eq(count - 1)
        return m
