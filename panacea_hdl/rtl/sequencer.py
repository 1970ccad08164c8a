"""The GEMM sequencer of the core: LOAD, PASS, DRAIN, HANDOFF per column block and pass.

Pass overlap: while a block has a further pass and the output bank is empty (nothing copied
into it still pending), the controller chains the next pass right after the current one's
last issue (``chain`` / ``pass_chain``); the sequencer stays in PASS and copies the finished
pass into the bank ``DRAIN_CYCLES + 1`` cycles later, when its last MAC has landed and the
next pass's first MAC lands (the accumulators take term + those products). Otherwise (the
block's last pass, or the bank still busy) the pass ends as below.

LOAD overlap (:func:`golden_model.timing.load_overlaps`: K <= ``k_max // 2`` and no
requantization header): from the first pass of a block that has a further block, ``w`` beats
are taken (``w_ready``) and written as the next block's rows into the other half of the weight
buffer (``w_half``; ``w_other``: its term into the compensator's second set). The HANDOFF of
the block's last pass then starts the next block at once if those rows are all written and
their term is final (``TERM_LATENCY`` cycles after the last write): the read half flips,
``term_swap`` makes the new term current in the next cycle and ``block_init`` puts it into the
accumulators one cycle later (before the new pass's first MAC lands); else it waits in
WAIT_LOAD (still taking ``w`` beats) until they are. A stalled ``w`` so delays only the next
block's start.

States: IDLE -> (START, parameters valid) LOAD -> PASS -> (``pass_done``: the first DRAIN
cycle) DRAIN -> WAIT_BANK (until the output bank is empty) -> HANDOFF (the copy) -> next PASS,
next block's LOAD (or, with the LOAD overlap, its first PASS or WAIT_LOAD), or FINISH (until
the bank has sent its last beat) -> IDLE with DONE. START
with bad parameters sets ERROR/BAD_PARAM without leaving IDLE; a malformed RLE word (ERROR
with the decoder's code and ERR_WORD) or ABORT (ERROR/ABORTED) return to IDLE from any busy
state and flush the output bank. START is ignored while busy, ABORT while idle. The timeline
is :func:`golden_model.cycle_model.predict`'s, with the latencies of
:mod:`golden_model.timing`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from golden_model.formats import RQ_HEADER_BEATS
from golden_model.timing import DRAIN_CYCLES, ISSUE_CYCLES, MAC_STAGES, TERM_LATENCY

from panacea_hdl import regmap
from panacea_hdl.rtl.layouts import ConfigComponent, check_config, k_shape
from panacea_hdl.regmap import ErrorCode

__all__ = ["Sequencer"]


class Sequencer(ConfigComponent):
    """Steps one GEMM through its column blocks and passes (see the module docstring).

    Parameters
    ----------
    config : PanaceaConfig
        Design parameters (keyword only).

    Attributes
    ----------
    start, bad_param : In(1)
        The registered START and parameter check (:class:`~panacea_hdl.rtl.params.ParamCheck`).
    k_len : In(k_shape)
        K.
    dim_m, dim_n : In(regmap.DIM_BITS)
        M and N.
    abort : In(1)
        CTRL.ABORT.
    w_valid : In(1)
        A weight beat is offered; ``w_ready`` accepts it (LOAD only).
    pass_done : In(1)
        From the controller: this cycle is the first DRAIN cycle of the pass.
    pass_chain : In(1)
        From the controller: the pass's last issue is in this cycle and the next pass starts
        right after it (only while ``chain``).
    chain : Out(1)
        To the controller: the next pass may follow the current one at once.
    ctrl_error, ctrl_error_code, word_valid : In
        From the skip controller (bit-slice variants): a malformed RLE word and its code; an
        RLE word was accepted this cycle.
    stream_error, stream_error_code, stream_error_word : In
        From the unpackers (bit-slice variants): a truncated packed pass, its code and the
        index of its first missing item (ERR_WORD); checked in PASS after ``ctrl_error``.
    bank_empty, bank_done : In(1)
        The output bank has nothing to send; it sends the GEMM's last beat this cycle.
    w_ready, load_k : Out
        Accept weight beats; the weight row they write.
    w_half, w_other, r_half : Out(1)
        The LOAD overlap: the weight-buffer half written; the write is the next block's (the
        compensator's second term set); the half the passes read.
    term_swap, block_init : Out(1)
        The next block's term becomes the current one at the end of this cycle; the
        accumulators take it (a register each, the second one cycle after the first).
    ctrl_active, ctrl_restart : Out(1)
        The controller's PASS enable and its restart (the HANDOFF state and the first LOAD
        cycle; a chained pass restarts the controller by itself).
    more : Out(1)
        Builds with packed streams: the column block has a pass after the current one (a
        register, ``~last_pass``), so the unpackers may load its first items ahead.
    handoff : Out(1)
        The copy of a pass into the bank happens this cycle (a register): bank load and
        accumulator clear (HANDOFF state, or DRAIN_CYCLES + 1 cycles after a chained pass's
        last issue).
    pass_rows, pass_last : Out
        Valid rows of the pass being handed off, and whether it is the GEMM's last pass.
    flush : Out(1)
        Leaving the GEMM early (error / ABORT): empty the output bank.
    busy, done, error : Out(1)
        STATUS bits.
    errcode : Out(4)
        STATUS.ERRCODE.
    err_word : Out(32)
        ERR_WORD: index of the malformed RLE word in the GEMM's ``ho`` stream.
    counters_clear : Out(1)
        Clear the performance counters (at START).
    abuf_overflow : In(1), abuf_record, abuf_replay : Out(1)
        Builds with an activation buffer (``config.act_buffer_bytes``): the buffer refused a
        beat (ERROR/ABUF_OVERFLOW, in PASS); record from the GEMM's first block (at START);
        replay for the next column block (at its HANDOFF).
    rq_en : In(1), hdr_we : Out(1)
        Builds with ``config.requant``: the GEMM requantizes (REQUANT.EN), so each column
        block starts in state HEADER, which accepts the ``RQ_HEADER_BEATS`` header beats on
        ``w`` (``hdr_we``) before LOAD.
    """

    def __init__(self, *, config):
        self._config = cfg = check_config(config)
        members = {
            "start": In(1), "bad_param": In(1), "k_len": In(k_shape(cfg)),
            "dim_m": In(regmap.DIM_BITS), "dim_n": In(regmap.DIM_BITS), "abort": In(1),
            "w_valid": In(1), "pass_done": In(1), "pass_chain": In(1),
        }
        if cfg.caps.sliced:
            members.update({"ctrl_error": In(1), "ctrl_error_code": In(4), "word_valid": In(1),
                            "stream_error": In(1), "stream_error_code": In(4),
                            "stream_error_word": In(32), "more": Out(1)})
        members.update({
            "bank_empty": In(1), "bank_done": In(1),
            "w_ready": Out(1), "load_k": Out(k_shape(cfg)),
            "w_half": Out(1), "w_other": Out(1), "r_half": Out(1),
            "term_swap": Out(1), "block_init": Out(1),
            "ctrl_active": Out(1), "ctrl_restart": Out(1), "chain": Out(1),
            "handoff": Out(1),
            "pass_rows": Out(range(cfg.rows_per_pass + 1)), "pass_last": Out(1),
            "flush": Out(1),
            "busy": Out(1), "done": Out(1), "error": Out(1), "errcode": Out(4),
            "err_word": Out(32), "counters_clear": Out(1),
        })
        if cfg.requant:
            members.update({"rq_en": In(1), "hdr_we": Out(1)})
        if cfg.act_buffer_bytes:
            members.update({"abuf_overflow": In(1), "abuf_record": Out(1), "abuf_replay": Out(1)})
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self._config
        rows_pp, cols = cfg.rows_per_pass, cfg.cols
        sliced = cfg.caps.sliced
        m = Module()
        requant = cfg.requant
        if requant:
            hdr_count = Signal(range(RQ_HEADER_BEATS))     # header beats of this block so far

        def to_load():
            # a new column block: its requantization header first (requant builds, EN set)
            if requant:
                m.d.sync += hdr_count.eq(0)     # also after an ABORT in the middle of a header
                with m.If(self.rq_en):
                    m.next = "HEADER"
                with m.Else():
                    m.next = "LOAD"
            else:
                m.next = "LOAD"

        load_k = self.load_k                     # next weight row to load
        load_last = Signal()                     # load_k is the block's last row (K - 1):
                                                 # registered, no adder before the FSM
        rows_left = Signal(regmap.DIM_BITS)      # rows of A from this pass on
        cols_left = Signal(regmap.DIM_BITS)      # columns of W from this block on
        ho_index = Signal(32)                    # RLE words accepted in this GEMM
        done, error, errcode, err_word = self.done, self.error, self.errcode, self.err_word
        handoff, flush = self.handoff, self.flush
        k_len, dim_m, dim_n = self.k_len, self.dim_m, self.dim_n
        start_gemm = Signal()                    # START accepted with good parameters
        w_go = Signal()
        m.d.comb += w_go.eq(self.w_valid & self.w_ready)

        # ---- the LOAD overlap (golden_model.timing.load_overlaps) -----------------------------
        overlap = Signal()      # this GEMM loads each block after the first behind the passes
        pre_active = Signal()   # the next block's LOAD is under way (into the other half)
        pre_ready = Signal()    # ... it is complete and its term final
        r_half, w_other = self.r_half, self.w_other
        swap, block_init = self.term_swap, self.block_init
        m.d.comb += [w_other.eq(pre_active), self.w_half.eq(r_half ^ pre_active)]
        # the last write of the next block's LOAD in cycle x: its term is final in cycle
        # x + TERM_LATENCY (the compensator's pipeline), pre_ready from then on
        pre_end = Signal()
        m.d.comb += pre_end.eq(w_go & pre_active & load_last)
        settle = Signal(TERM_LATENCY - 1, name="pre_settle")
        m.d.sync += [settle.eq(Cat(pre_end, settle[:-1])), swap.eq(0), block_init.eq(swap)]
        with m.If(settle[-1]):
            m.d.sync += pre_ready.eq(1)
        with m.If(w_go & pre_active):
            m.d.sync += [load_k.eq(load_k + 1), load_last.eq(load_k + 2 == k_len)]
            with m.If(load_last):
                m.d.sync += pre_active.eq(0)
        with m.If(pre_active):
            m.d.comb += self.w_ready.eq(1)

        def next_block_load(more):
            # the next block's LOAD starts (behind this block's passes) if there is one
            with m.If(overlap & more):
                m.d.sync += [pre_active.eq(1), load_k.eq(0), load_last.eq(k_len == 1)]

        def start_block(more):
            # the next block, loaded behind the last one: read its half, swap its term in;
            # ``more``: it has a further block, whose LOAD starts now
            m.d.sync += [r_half.eq(~r_half), swap.eq(1), pre_ready.eq(0)]
            next_block_load(more)
            m.next = "PASS"

        # the controller restarts at every HANDOFF and in the first LOAD cycle of a GEMM (the
        # START decision is registered first: it is off the wide paths; LOAD re-initialises
        # the accumulators and the bank is empty in IDLE, so neither needs a clear at START)
        start_gemm_r = Signal()
        m.d.sync += start_gemm_r.eq(start_gemm)

        # the copy of a chained pass: pass_chain in cycle e, the copy (handoff) in cycle
        # e + DRAIN_CYCLES + 1, when the pass's last MAC (issued by the controller in e) has
        # landed; copy_line[i] is high i + 1 cycles after e
        copy_line = Signal(DRAIN_CYCLES, name="copy_line")
        copy_pending = Signal()
        m.d.comb += copy_pending.eq(copy_line.any() | handoff)
        with m.If(flush):
            m.d.sync += copy_line.eq(0)
        with m.Else():
            m.d.sync += copy_line.eq(Cat(self.pass_chain, copy_line[:-1]))
        m.d.sync += handoff.eq(copy_line[-1] & ~flush)     # overridden by WAIT_BANK below
        hand_rows = Signal.like(self.pass_rows)  # rows and last flag of the pass being copied
        hand_last = Signal()
        m.d.comb += [self.pass_rows.eq(hand_rows), self.pass_last.eq(hand_last)]

        drain_count = Signal(range(DRAIN_CYCLES))
        # registered with rows_left / cols_left (no comparator in front of the FSM)
        last_pass = Signal()                     # rows_left <= rows_pp
        last_block = Signal()                    # cols_left <= cols
        cur_rows = Mux(last_pass, rows_left, rows_pp)     # valid rows of the current pass

        def to_handoff(otherwise):
            # the copy in the next cycle if the bank is empty (and no chained copy pending)
            with m.If(self.bank_empty & ~copy_pending & ~self.abort):
                m.d.sync += [handoff.eq(1), hand_rows.eq(cur_rows),
                             hand_last.eq(last_pass & last_block)]
                m.next = "HANDOFF"
            with m.Else():
                m.next = otherwise

        def abort_check():
            # ABORT from any busy state; placed last in each state so that it wins
            with m.If(self.abort):
                m.d.comb += flush.eq(1)
                m.d.sync += [done.eq(0), error.eq(1), errcode.eq(ErrorCode.ABORTED)]
                m.next = "IDLE"

        with m.FSM(name="seq") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += self.counters_clear.eq(1)
                    m.d.sync += [done.eq(0), error.eq(0), errcode.eq(ErrorCode.NONE),
                                 err_word.eq(0), ho_index.eq(0)]
                    with m.If(self.bad_param):
                        m.d.sync += [error.eq(1), errcode.eq(ErrorCode.BAD_PARAM)]
                    with m.Else():
                        m.d.comb += start_gemm.eq(1)
                        m.d.sync += [load_k.eq(0), load_last.eq(k_len == 1), r_half.eq(0),
                                     overlap.eq((k_len <= cfg.k_max // 2)
                                                & (~self.rq_en if requant else 1)),
                                     rows_left.eq(dim_m), cols_left.eq(dim_n),
                                     last_pass.eq(dim_m <= rows_pp),
                                     last_block.eq(dim_n <= cols)]
                        to_load()
            with m.State("LOAD"):
                m.d.comb += self.w_ready.eq(1)
                with m.If(w_go):
                    m.d.sync += [load_k.eq(load_k + 1), load_last.eq(load_k + 2 == k_len)]
                    with m.If(load_last):
                        next_block_load(~last_block)
                        m.next = "PASS"
                abort_check()
            with m.State("PASS"):
                m.d.comb += [self.ctrl_active.eq(1),
                             self.chain.eq(~last_pass & self.bank_empty & ~copy_pending)]
                with m.If(self.pass_chain):     # the next pass follows at once
                    m.d.sync += [hand_rows.eq(rows_pp), hand_last.eq(0),
                                 rows_left.eq(rows_left - rows_pp),
                                 last_pass.eq(rows_left <= 2 * rows_pp)]
                if cfg.act_buffer_bytes:        # a run too big for the buffer: never hang
                    with m.If(self.abuf_overflow):
                        m.d.comb += flush.eq(1)
                        m.d.sync += [error.eq(1), errcode.eq(ErrorCode.ABUF_OVERFLOW)]
                        m.next = "IDLE"
                if not sliced:                  # nothing to decode: no stream errors
                    with m.If(self.pass_done):  # this cycle is the first DRAIN cycle
                        m.d.sync += drain_count.eq(0)
                        m.next = "DRAIN"
                else:
                    with m.If(self.ctrl_error):
                        m.d.comb += flush.eq(1)
                        m.d.sync += [error.eq(1), errcode.eq(self.ctrl_error_code),
                                     err_word.eq(ho_index - 1)]
                        m.next = "IDLE"
                    with m.Elif(self.stream_error):
                        m.d.comb += flush.eq(1)
                        m.d.sync += [error.eq(1), errcode.eq(self.stream_error_code),
                                     err_word.eq(self.stream_error_word)]
                        m.next = "IDLE"
                    with m.Elif(self.pass_done):   # this cycle is the first DRAIN cycle
                        m.d.sync += drain_count.eq(0)
                        m.next = "DRAIN"
                abort_check()
            # the other DRAIN_CYCLES - 1 DRAIN cycles: the last MACs go down the pipeline of
            # panacea_hdl.rtl.lanes and reach the accumulators at the end of the last one
            assert DRAIN_CYCLES == ISSUE_CYCLES + MAC_STAGES
            with m.State("DRAIN"):
                m.d.sync += drain_count.eq(drain_count + 1)
                with m.If(drain_count == DRAIN_CYCLES - 2):    # the last DRAIN cycle
                    m.d.sync += drain_count.eq(0)
                    to_handoff("WAIT_BANK")
                abort_check()
            # HANDOFF (HANDOFF_CYCLES = 1): the copy, flagged by a register set in the last
            # DRAIN cycle or in WAIT_BANK (until the bank is empty): it fans out to every
            # accumulator and bank flip-flop, so it must not be decoded from the bank count
            # and the stream ready
            with m.State("WAIT_BANK"):
                to_handoff("WAIT_BANK")
                abort_check()
            with m.State("HANDOFF"):
                m.d.comb += self.ctrl_restart.eq(1)
                with m.If(~last_pass):
                    m.d.sync += [rows_left.eq(rows_left - rows_pp),
                                 last_pass.eq(rows_left <= 2 * rows_pp)]
                    m.next = "PASS"
                with m.Elif(~last_block):
                    if cfg.act_buffer_bytes:
                        m.d.comb += self.abuf_replay.eq(1)
                    m.d.sync += [cols_left.eq(cols_left - cols), rows_left.eq(dim_m),
                                 last_block.eq(cols_left <= 2 * cols),
                                 last_pass.eq(dim_m <= rows_pp)]
                    with m.If(overlap):          # loaded (or loading) behind this block
                        with m.If(pre_ready):
                            start_block(cols_left > 2 * cols)
                        with m.Else():
                            m.next = "WAIT_LOAD"
                    with m.Else():
                        m.d.sync += [load_k.eq(0), load_last.eq(k_len == 1)]
                        to_load()
                with m.Else():
                    m.next = "FINISH"
                abort_check()
            # the next block's rows still arriving (a stalled w) or their term not yet final
            with m.State("WAIT_LOAD"):
                with m.If(pre_ready):
                    start_block(~last_block)
                abort_check()
            with m.State("FINISH"):
                with m.If(self.bank_done):       # the bank sends its last beat
                    m.d.sync += done.eq(1)
                    m.next = "IDLE"
                abort_check()
            if requant:
                with m.State("HEADER"):
                    m.d.comb += [self.w_ready.eq(1), self.hdr_we.eq(self.w_valid)]
                    with m.If(self.w_valid):
                        m.d.sync += hdr_count.eq(hdr_count + 1)
                        with m.If(hdr_count == RQ_HEADER_BEATS - 1):
                            m.next = "LOAD"
                    abort_check()
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        if sliced:
            # the block has a pass after the current one (its beats follow on the bus): the
            # unpackers may load its first items ahead (a register: early)
            m.d.comb += self.more.eq(~last_pass)
        # leaving a GEMM early (or a new one): no LOAD behind the passes remains
        with m.If(flush | start_gemm):
            m.d.sync += [pre_active.eq(0), pre_ready.eq(0), settle.eq(0)]
        with m.If(start_gemm_r):
            m.d.comb += self.ctrl_restart.eq(1)
        if cfg.act_buffer_bytes:
            m.d.comb += self.abuf_record.eq(start_gemm)

        if sliced:
            with m.If(self.busy & self.word_valid):
                m.d.sync += ho_index.eq(ho_index + 1)
        return m
