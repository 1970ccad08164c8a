"""The Panacea core: CSR, PEAs, skip controller, GEMM sequencer and output bank.

Dataflow and timing are those of ``docs/architecture.md`` and
:func:`golden_model.cycle_model.predict`: for each column block of ``cols`` outputs, LOAD
writes K weight rows into every PEA; then for each pass of two tiles (``rows_per_pass`` rows)
the skip controller streams ``lo`` beats to the SWOs and decoded ``ho`` literals to the DWOs;
the cycle in which the controller reports ``pass_done`` is the first of the DRAIN cycles
(the PEAs register their products before the accumulators); HANDOFF copies the
PEAs' results into the output bank (waiting while the bank still sends the previous pass) and
resets the accumulators to the compensation terms; the bank sends one ``y`` beat per valid row
while the next pass runs.

The same generator builds the baselines of ``docs/baselines.md`` (``config.variant``) behind
the same host interface: ``sibia`` (the same bit-slice PEAs without r logic; MODE aqs is a
BAD_PARAM) and ``dense`` (:class:`~panacea_hdl.int8_pea.Int8PEA` arrays fed one ``lo`` beat of
whole activations per cycle by a :class:`~panacea_hdl.int8_pea.BeatIssuer`; ``ho`` is never
ready; only MODE dense).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden_model import formats
from golden_model.cycle_model import COUNTERS, DRAIN_CYCLES

from . import regmap
from .axi import AXI4LiteSignature, AXI4StreamSignature, AXIStreamToStream, StreamToAXIStream
from .csr import CSR
from .int8_pea import BeatIssuer, Int8PEA
from .lanes import MAC_STAGES
from .layouts import (ConfigComponent, check_config, k_shape, lo_beat_layout, rle_word_layout,
                      w_beat_layout, y_beat_layout)
from .pea import PEA
from .regmap import ErrorCode
from .skip_controller import SkipController

__all__ = ["PanaceaCore", "ISSUE_CYCLES"]

#: Register stages between the skip controller's issue and the PEAs' issue inputs.
ISSUE_CYCLES = 1


class PanaceaCore(ConfigComponent):
    """The accelerator core with its host interfaces.

    Sequencer states: IDLE -> (START, parameters valid) LOAD -> PASS -> (``pass_done``: the
    first DRAIN cycle) DRAIN -> WAIT_BANK (until the output bank is empty) -> HANDOFF (the
    copy) -> next PASS, next block's LOAD, or FINISH (until the bank has sent its last beat)
    -> IDLE with DONE. START with bad parameters sets ERROR/BAD_PARAM
    without leaving IDLE; a malformed RLE word (ERROR with the decoder's code and ERR_WORD)
    or ABORT (ERROR/ABORTED) return to IDLE from any busy state and flush the output bank
    (all but a ``y`` beat already on offer, which AXI4-Stream requires to stay until taken).
    START is ignored while busy, ABORT while idle. The performance counters clear at START and
    count exactly as :func:`golden_model.cycle_model.predict` does. A MODE the config's variant
    cannot run (``config.modes``) is a BAD_PARAM.

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (keyword only).

    Attributes
    ----------
    csr : In(AXI4LiteSignature(addr_width=8, data_width=32))
        Register interface (``docs/registers.md``).
    w, lo, ho : In(AXI4StreamSignature)
        Weight beats (``w_beat_bits``), low-order beats (``lo_beat_bits``; whole activations in
        the ``dense`` variant) and RLE words (``rle_word_bits``; never ready in the ``dense``
        variant), formats of :mod:`golden_model.formats`; ``tlast`` is ignored.
    y : Out(AXI4StreamSignature(y_beat_bits))
        Output rows; ``tlast`` marks the last beat of a GEMM.
    busy : Out(1)
        A GEMM is in progress (STATUS.BUSY).
    irq : Out(1)
        STATUS.DONE | STATUS.ERROR.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        super().__init__({
            "csr": In(AXI4LiteSignature(addr_width=regmap.ADDR_BITS, data_width=32)),
            "w": In(AXI4StreamSignature(formats.w_beat_bits(cfg))),
            "lo": In(AXI4StreamSignature(formats.lo_beat_bits(cfg))),
            "ho": In(AXI4StreamSignature(formats.rle_word_bits(cfg))),
            "y": Out(AXI4StreamSignature(formats.y_beat_bits(cfg))),
            "busy": Out(1),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        rows_pp, cols, pea_cols = cfg.rows_per_pass, cfg.cols, cfg.pea_cols

        variant = cfg.variant
        int8_array = variant == "dense"          # no slicing, no skipping, no ho stream
        m.submodules.csr = csr = CSR(config=cfg)
        if int8_array:
            m.submodules.ctrl = ctrl = BeatIssuer(config=cfg)
            peas = [Int8PEA(config=cfg) for _ in range(cfg.num_peas)]
        else:
            m.submodules.ctrl = ctrl = SkipController(config=cfg)
            peas = [PEA(config=cfg) for _ in range(cfg.num_peas)]
        for i, pea in enumerate(peas):
            m.submodules[f"pea{i}"] = pea
        m.submodules.w_in = w_in = AXIStreamToStream(w_beat_layout(cfg))
        m.submodules.lo_in = lo_in = AXIStreamToStream(lo_beat_layout(cfg))
        if not int8_array:
            m.submodules.ho_in = ho_in = AXIStreamToStream(rle_word_layout(cfg))
        m.submodules.y_out = y_out = StreamToAXIStream(y_beat_layout(cfg))

        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        wiring.connect(m, wiring.flipped(self.w), w_in.axis)
        wiring.connect(m, wiring.flipped(self.lo), lo_in.axis)
        if int8_array:
            m.d.comb += self.ho.tready.eq(0)     # the INT8 array reads no ho stream
        else:
            wiring.connect(m, wiring.flipped(self.ho), ho_in.axis)
        wiring.connect(m, y_out.axis, wiring.flipped(self.y))
        wiring.connect(m, lo_in.o, ctrl.lo)
        if not int8_array:
            wiring.connect(m, ho_in.o, ctrl.ho)

        # ---- parameters (the CSR refuses writes to them while busy) ------------------------
        mode, rval, zp, split = csr.mode, csr.rval, csr.zp, csr.split
        dim_m, dim_k, dim_n = csr.dim_m, csr.dim_k, csr.dim_n
        if variant == "panacea":
            is_aqs = Signal()
            m.d.comb += is_aqs.eq(mode == regmap.MODE_CODES["aqs"])
        split_ok = Signal()
        if variant == "panacea":
            rval_ok = Signal()
        m.d.comb += split_ok.eq(0)
        if variant == "panacea":
            m.d.comb += rval_ok.eq(0)
        for L in cfg.splits:
            with m.If(split == L):
                if variant == "panacea":
                    m.d.comb += [split_ok.eq(1), rval_ok.eq(rval < (1 << (8 - L)))]
                else:
                    m.d.comb += split_ok.eq(1)
        # START and the parameter check are registered: the START write acts one cycle later
        # (the parameters were written at least one cycle before it), so no path runs from
        # the CSR decode or the parameter comparators into the sequencer's wide updates
        bad_param = Signal()
        start = Signal()
        m.d.sync += start.eq(csr.start)
        if variant == "panacea":
            m.d.sync += bad_param.eq((mode > max(regmap.MODE_CODES.values())) | ~split_ok
                                     | (is_aqs & ~rval_ok) | (dim_m == 0) | (dim_k == 0)
                                     | (dim_n == 0) | (dim_k > cfg.k_max))
        else:   # the baselines: modes beyond the variant's (codes are in order) are refused
            top_mode = max(regmap.MODE_CODES[md] for md in cfg.modes)
            m.d.sync += bad_param.eq((mode > top_mode) | ~split_ok | (dim_m == 0)
                                     | (dim_k == 0) | (dim_n == 0) | (dim_k > cfg.k_max))
        k_len = Signal(k_shape(cfg))
        if variant == "panacea":
            s = Signal(unsigned(cfg.ho_bits))
            m.d.comb += [
                k_len.eq(dim_k),
                s.eq(Mux(is_aqs, rval, 0)),
                ctrl.k_len.eq(k_len),
                ctrl.dense.eq(mode == regmap.MODE_CODES["dense"]),
            ]
        elif variant == "sibia":
            m.d.comb += [
                k_len.eq(dim_k),
                ctrl.k_len.eq(k_len),
                ctrl.dense.eq(mode == regmap.MODE_CODES["dense"]),
            ]
        else:
            m.d.comb += [k_len.eq(dim_k), ctrl.k_len.eq(k_len)]

        # the PEAs' parameters are registered copies: they are stable from START on, and the
        # registers keep the CSR decode and the parameter checks apart from the wide datapath
        pe_split = Signal.like(split, name="pe_split")
        pe_z = Signal.like(zp, name="pe_z")
        m.d.sync += [pe_split.eq(split), pe_z.eq(zp)]
        if variant == "panacea":
            pe_s = Signal.like(s, name="pe_s")
            m.d.sync += pe_s.eq(s)

        # ---- sequencer state --------------------------------------------------------------
        load_k = Signal(k_shape(cfg))            # next weight row to load
        load_last = Signal()                     # load_k is the block's last row (K - 1):
                                                 # registered, no adder before the FSM
        rows_left = Signal(16)                  # rows of A from this pass on
        cols_left = Signal(16)                  # columns of W from this block on
        ho_index = Signal(32)                   # RLE words accepted in this GEMM
        done = Signal()
        error = Signal()
        errcode = Signal(4)
        err_word = Signal(32)
        m.d.comb += [
            csr.done.eq(done), csr.error.eq(error), csr.errcode.eq(errcode),
            csr.err_word.eq(err_word), self.irq.eq(done | error),
        ]

        # ---- output bank -----------------------------------------------------------------
        bank = [Signal(y_beat_layout(cfg), name=f"bank_{r}") for r in range(rows_pp)]
        bank_count = Signal(range(rows_pp + 1))
        bank_ptr = Signal(range(rows_pp))      # row sent next: the rows stay in place, a y
                                                # beat only moves the pointer (the ready of
                                                # the y stream must not enable every row)
        bank_last = Signal()                    # the bank holds the GEMM's last pass
        y_go = Signal()
        with m.Switch(bank_ptr):
            for r in range(rows_pp):
                with m.Case(r):
                    m.d.comb += y_out.i.payload.eq(bank[r])
        m.d.comb += [
            y_out.i.valid.eq(bank_count != 0),
            y_out.last.eq(bank_last & (bank_count == 1)),
            y_go.eq(y_out.i.valid & y_out.i.ready),
        ]

        # ---- per-cycle control (driven by the FSM below) -------------------------------------
        w_go = Signal()          # a weight beat is accepted
        handoff = Signal()       # the HANDOFF copy happens this cycle (a register)
        start_gemm = Signal()    # START accepted with good parameters
        flush = Signal()         # leave a GEMM early (error / abort): empty the bank
        m.d.comb += w_go.eq(w_in.o.valid & w_in.o.ready)

        # PEAs: weights from w, work from the controller, parameters from the CSR
        w_bits = w_in.o.payload.as_value()
        # issue register: the controller's decisions (stream handshake, RLE decode) reach the
        # PEAs one cycle later, so no path runs from a stream word into the weight buffers'
        # read ports (ISSUE_CYCLES; DRAIN_CYCLES = ISSUE_CYCLES + the PEAs' MAC_STAGES)
        issue_names = (("mac_en", "mac_k", "mac_a") if int8_array else
                       ("swo_en", "swo_k", "swo_al", "dwo_en", "dwo_k", "dwo_tile", "dwo_ah"))
        issue = {}
        for name in issue_names:
            src = getattr(ctrl, name)
            issue[name] = Signal(src.shape(), name=f"issue_{name}")
            m.d.sync += issue[name].eq(src)
        for p, pea in enumerate(peas):
            lane_bits = pea_cols * 8
            load = [
                pea.w_we.eq(w_go),
                pea.w_addr.eq(load_k),
                pea.w_data.eq(w_bits[p * lane_bits:(p + 1) * lane_bits]),
                pea.comp_clear.eq(w_go & (load_k == 0)),
            ]
            if int8_array:
                m.d.comb += load + [
                    *[getattr(pea, name).eq(issue[name]) for name in issue_names],
                    pea.z.eq(pe_z),
                    pea.acc_clear.eq(handoff),
                ]
                continue
            m.d.comb += load + [
                *[getattr(pea, name).eq(issue[name]) for name in issue_names],
                *([pea.s.eq(pe_s)] if variant == "panacea" else []), pea.z.eq(pe_z),
                pea.split.eq(pe_split),
                pea.acc_clear.eq(handoff),
            ]
        # the controller restarts at every HANDOFF and in the first LOAD cycle of a GEMM (the
        # START decision is registered first: it is off the wide paths; LOAD re-initialises
        # the accumulators and the bank is empty in IDLE, so neither needs a clear at START)
        start_gemm_r = Signal()
        m.d.sync += start_gemm_r.eq(start_gemm)
        m.d.comb += ctrl.restart.eq(handoff | start_gemm_r)

        drain_count = Signal(range(DRAIN_CYCLES))
        # registered with rows_left / cols_left (no comparator in front of the FSM)
        last_pass = Signal()                    # rows_left <= rows_pp
        last_block = Signal()                   # cols_left <= cols

        def abort_check():
            # ABORT from any busy state; placed last in each state so that it wins
            with m.If(csr.abort):
                m.d.comb += flush.eq(1)
                m.d.sync += [done.eq(0), error.eq(1), errcode.eq(ErrorCode.ABORTED)]
                m.next = "IDLE"

        with m.FSM(name="seq") as fsm:
            with m.State("IDLE"):
                with m.If(start):
                    m.d.comb += csr.counters_clear.eq(1)
                    m.d.sync += [done.eq(0), error.eq(0), errcode.eq(ErrorCode.NONE),
                                 err_word.eq(0), ho_index.eq(0)]
                    with m.If(bad_param):
                        m.d.sync += [error.eq(1), errcode.eq(ErrorCode.BAD_PARAM)]
                    with m.Else():
                        m.d.comb += start_gemm.eq(1)
                        m.d.sync += [load_k.eq(0), load_last.eq(k_len == 1),
                                     rows_left.eq(dim_m), cols_left.eq(dim_n),
                                     last_pass.eq(dim_m <= rows_pp),
                                     last_block.eq(dim_n <= cols)]
                        m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += w_in.o.ready.eq(1)
                with m.If(w_go):
                    m.d.sync += [load_k.eq(load_k + 1), load_last.eq(load_k + 2 == k_len)]
                    with m.If(load_last):
                        m.next = "PASS"
                abort_check()
            with m.State("PASS"):
                m.d.comb += ctrl.active.eq(1)
                if int8_array:                  # nothing to decode: no stream errors
                    with m.If(ctrl.pass_done):  # this cycle is the first DRAIN cycle
                        m.d.sync += drain_count.eq(0)
                        m.next = "DRAIN"
                else:
                    with m.If(ctrl.error):
                        m.d.comb += flush.eq(1)
                        m.d.sync += [error.eq(1), errcode.eq(ctrl.error_code),
                                     err_word.eq(ho_index - 1)]
                        m.next = "IDLE"
                    with m.Elif(ctrl.pass_done):   # this cycle is the first DRAIN cycle
                        m.d.sync += drain_count.eq(0)
                        m.next = "DRAIN"
                abort_check()
            # the other DRAIN_CYCLES - 1 DRAIN cycles: the last MACs go down the pipeline of
            # panacea_hdl.lanes and reach the accumulators at the end of the last one
            assert DRAIN_CYCLES == ISSUE_CYCLES + MAC_STAGES
            with m.State("DRAIN"):
                m.d.sync += drain_count.eq(drain_count + 1)
                with m.If(drain_count == DRAIN_CYCLES - 2):
                    m.d.sync += drain_count.eq(0)
                    m.next = "WAIT_BANK"
                abort_check()
            # HANDOFF takes two cycles (HANDOFF_CYCLES): WAIT_BANK until the bank is empty,
            # then the copy, flagged by a register: it fans out to every accumulator and bank
            # flip-flop, so it must not be decoded from the bank count and the stream ready
            with m.State("WAIT_BANK"):
                with m.If((bank_count == 0) & ~csr.abort):
                    m.d.sync += handoff.eq(1)
                    m.next = "HANDOFF"
                abort_check()
            with m.State("HANDOFF"):
                m.d.sync += handoff.eq(0)
                with m.If(~last_pass):
                    m.d.sync += [rows_left.eq(rows_left - rows_pp),
                                 last_pass.eq(rows_left <= 2 * rows_pp)]
                    m.next = "PASS"
                with m.Elif(~last_block):
                    m.d.sync += [cols_left.eq(cols_left - cols), rows_left.eq(dim_m),
                                 last_block.eq(cols_left <= 2 * cols),
                                 last_pass.eq(dim_m <= rows_pp),
                                 load_k.eq(0), load_last.eq(k_len == 1)]
                    m.next = "LOAD"
                with m.Else():
                    m.next = "FINISH"
                abort_check()
            with m.State("FINISH"):
                with m.If(y_go & (bank_count == 1)):
                    m.d.sync += done.eq(1)
                    m.next = "IDLE"
                abort_check()
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        m.d.comb += [csr.busy.eq(self.busy)]

        if not int8_array:
            with m.If(self.busy & ctrl.word_valid):
                m.d.sync += ho_index.eq(ho_index + 1)

        # ---- output bank: load at HANDOFF, send one row per y beat --------------------
        # the rows do not depend on flush (an error or ABORT only has to empty the count):
        # flush comes from the CSR decode and the RLE decoder, and must not fan out to
        # every bank flip-flop
        with m.If(handoff):
            for r in range(rows_pp):
                for p, pea in enumerate(peas):
                    for c in range(pea_cols):
                        m.d.sync += bank[r][p * pea_cols + c].eq(pea.y[r * pea_cols + c])
            m.d.sync += bank_ptr.eq(0)
        with m.Elif(y_go):
            m.d.sync += bank_ptr.eq(bank_ptr + 1)
        with m.If(flush):
            # AXI4-Stream: a beat on offer (tvalid without tready) stays, with its tlast, until
            # it is taken; the rest of the bank is dropped
            keep = y_out.i.valid & ~y_out.i.ready
            m.d.sync += [bank_count.eq(keep), bank_last.eq(keep & y_out.last)]
        with m.Elif(handoff):
            m.d.sync += [
                bank_count.eq(Mux(last_pass, rows_left, rows_pp)),
                bank_last.eq(last_pass & last_block),
            ]
        with m.Elif(y_go):
            m.d.sync += bank_count.eq(bank_count - 1)

        # ---- performance counters (order of golden_model.cycle_model.COUNTERS) --------------
        if int8_array:      # one MAC beat per cycle on the INT8 array, counted as the SWO's
            inc = {
                "cycles": self.busy,
                "swo_busy": ctrl.mac_en,
                "dwo_busy": 0,
                "comp_busy": w_go + handoff,
                "rle_words": 0,
                "skipped_vectors": 0,
                "wbuf_writes": w_go,
                "wbuf_reads": ctrl.mac_en,
                "ext_in_words": w_go + ctrl.mac_en,
                "ext_out_words": y_go,
            }
            assert set(inc) == set(COUNTERS), "a counter of the cycle model is not wired"
            for i, name in enumerate(COUNTERS):
                m.d.comb += csr.counter_inc[i].eq(inc[name])
            return m
        word_go = Signal()
        m.d.comb += word_go.eq(ctrl.word_valid)
        inc = {
            "cycles": self.busy,
            "swo_busy": ctrl.swo_en,
            "dwo_busy": ctrl.dwo_en,
            "comp_busy": w_go + handoff,
            "rle_words": word_go,
            "skipped_vectors": Mux(word_go, ctrl.skipped, 0),
            "wbuf_writes": w_go,
            "wbuf_reads": ctrl.swo_en + ctrl.dwo_en,
            "ext_in_words": w_go + ctrl.swo_en + word_go,
            "ext_out_words": y_go,
        }
        assert set(inc) == set(COUNTERS), "a counter of the cycle model is not wired"
        for i, name in enumerate(COUNTERS):
            m.d.comb += csr.counter_inc[i].eq(inc[name])
        return m
