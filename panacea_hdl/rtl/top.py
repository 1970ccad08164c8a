"""The Panacea core: CSR, PEAs, skip controller, GEMM sequencer and output bank.

Dataflow and timing are those of ``docs/architecture.md`` and
:func:`golden_model.cycle_model.predict`: for each column block of ``cols`` outputs, LOAD
writes K weight rows into every PEA; then for each pass of ``tiles_per_pass`` tiles (``rows_per_pass`` rows)
the skip controller streams ``lo`` beats to the SWOs and decoded ``ho`` literals to the DWOs;
the cycle in which the controller reports ``pass_done`` is the first of the DRAIN cycles
(the PEAs register their products before the accumulators); HANDOFF copies the
PEAs' results into the output bank (waiting while the bank still sends the previous pass) and
resets the accumulators to the compensation terms; the bank sends one ``y`` beat per valid row
while the next pass runs.

The same generator builds the baselines of ``docs/baselines.md`` (``config.variant``) behind
the same host interface: ``sibia`` (the same bit-slice PEAs without r logic; MODE aqs is a
BAD_PARAM) and ``dense`` (:class:`~panacea_hdl.rtl.pea.int8_pea.Int8PEA` arrays fed one ``lo`` beat of
whole activations per cycle by a :class:`~panacea_hdl.rtl.pea.int8_pea.BeatIssuer`; ``ho`` is never
ready; only MODE dense).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden_model import formats
from golden_model.timing import ISSUE_CYCLES  # noqa: F401  (re-exported: the issue register)

from golden_model.cycle_model import counter_names
from panacea_hdl import regmap
from panacea_hdl.rtl.act_buffer import ActBuffer
from panacea_hdl.rtl.axi import AXI4LiteSignature, AXI4StreamSignature, AXIStreamToStream, StreamToAXIStream
from panacea_hdl.rtl.csr import CSR
from panacea_hdl.rtl.pea.int8_pea import BeatIssuer, Int8PEA
from panacea_hdl.rtl.layouts import (ConfigComponent, check_config, lo_beat_layout, rle_word_layout,
                                     w_beat_layout, y_beat_layout)
from panacea_hdl.rtl.output_bank import OutputBank
from panacea_hdl.rtl.params import ParamCheck
from panacea_hdl.rtl.requant import RequantStage
from panacea_hdl.rtl.sequencer import Sequencer
from panacea_hdl.rtl.pea.pea import PEA
from panacea_hdl.rtl.skip_controller import SkipController
from panacea_hdl.rtl.unpack import HoUnpacker, LoUnpacker
from panacea_hdl.regmap import ErrorCode

__all__ = ["PanaceaCore", "ISSUE_CYCLES"]



class PanaceaCore(ConfigComponent):
    """The accelerator core with its host interfaces.

    Made of named components joined here: the CSR block, the parameter check
    (:class:`~panacea_hdl.rtl.params.ParamCheck`), the sequencer
    (:class:`~panacea_hdl.rtl.sequencer.Sequencer`), the skip controller (or the INT8 array's beat
    issuer), the PEAs and the output bank (:class:`~panacea_hdl.rtl.output_bank.OutputBank`).
    Sequencer states: IDLE -> (START, parameters valid) LOAD -> PASS -> (``pass_done``: the
    first DRAIN cycle) DRAIN -> WAIT_BANK (until the output bank is empty) -> HANDOFF (the
    copy) -> next PASS, next block's LOAD (with the LOAD overlap, K <= k_max / 2: the next
    block's first PASS, or WAIT_LOAD until its rows, loaded behind the passes, are in), or
    FINISH (until the bank has sent its last beat) -> IDLE with DONE. START with bad parameters sets ERROR/BAD_PARAM
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
        Weight beats (``w_beat_bits``), packed low-order beats (``lo_bus_bits``: vectors of
        ``rows_per_pass`` lanes of the run-time split L bits back to back, unpacked by
        :class:`~panacea_hdl.rtl.unpack.LoUnpacker`; one vector of whole activations per beat in
        the ``dense`` variant) and packed RLE words (``ho_bus_bits``, unpacked by
        :class:`~panacea_hdl.rtl.unpack.HoUnpacker`; never ready in the ``dense`` variant),
        formats of :mod:`golden_model.formats`. On the packed ``lo`` and ``ho`` streams ``tlast``
        marks each pass's last beat (a pass cut short ends the GEMM with ERROR/LO_TRUNCATED or
        HO_TRUNCATED); it is ignored on ``w`` and on the ``dense`` variant's ``lo``.
    y : Out(AXI4StreamSignature(y_beat_bits))
        Output rows; ``tlast`` marks the last beat of a GEMM. In builds with ``config.requant``
        through the requantization stage (:class:`~panacea_hdl.rtl.requant.RequantStage`):
        with REQUANT.EN, ``cols`` uint8 lanes in the low bits (``docs/formats.md``).
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
            "lo": In(AXI4StreamSignature(formats.lo_bus_bits(cfg))),
            "ho": In(AXI4StreamSignature(formats.ho_bus_bits(cfg))),
            "y": Out(AXI4StreamSignature(formats.y_beat_bits(cfg))),
            "busy": Out(1),
            "irq": Out(1),
        })
        #: the unpackers of the packed ``lo`` / ``ho`` streams (None in the ``dense`` variant);
        #: made here so that a harness can watch their outputs (e.g. ho words accepted)
        self.lo_unpack = LoUnpacker(config=cfg) if cfg.caps.sliced else None
        self.ho_unpack = HoUnpacker(config=cfg) if cfg.caps.sliced else None

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        rows_pp, pea_cols = cfg.rows_per_pass, cfg.pea_cols

        caps = cfg.caps
        int8_array = not caps.sliced             # no slicing, no skipping, no ho stream
        skip = caps.skip_value                   # r logic: RVAL, is_aqs, s
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
        if int8_array:      # one vector of whole activations per beat: nothing to unpack
            m.submodules.lo_in = lo_in = AXIStreamToStream(lo_beat_layout(cfg))
        else:
            m.submodules.lo_in = lo_in = AXIStreamToStream(formats.lo_bus_bits(cfg))
            m.submodules.ho_in = ho_in = AXIStreamToStream(formats.ho_bus_bits(cfg))
            # unpackers right after the stream inputs, in front of the consumers
            m.submodules.lo_unpack = lo_unpack = self.lo_unpack
            m.submodules.ho_unpack = ho_unpack = self.ho_unpack
        m.submodules.y_out = y_out = StreamToAXIStream(y_beat_layout(cfg))

        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        wiring.connect(m, wiring.flipped(self.w), w_in.axis)
        wiring.connect(m, wiring.flipped(self.lo), lo_in.axis)
        if int8_array:
            m.d.comb += self.ho.tready.eq(0)     # the INT8 array reads no ho stream
        else:
            wiring.connect(m, wiring.flipped(self.ho), ho_in.axis)
        wiring.connect(m, y_out.axis, wiring.flipped(self.y))
        # unpackers right after the stream inputs (packed lo / ho beats -> vectors / words);
        # then the activation buffer (config.act_buffer_bytes): records the first column
        # block's vectors and words, replays them for the others; then the controller
        abuf = bool(cfg.act_buffer_bytes)
        if int8_array:
            lo_src, ho_src = lo_in.o, None
        else:
            wiring.connect(m, lo_in.o, lo_unpack.i)
            wiring.connect(m, ho_in.o, ho_unpack.i)
            lo_src, ho_src = lo_unpack.o, ho_unpack.o
        if abuf:
            m.submodules.lo_buf = lo_buf = ActBuffer(lo_beat_layout(cfg), cfg.abuf_lo_depth)
            wiring.connect(m, lo_src, lo_buf.i)
            lo_src = lo_buf.o
            bufs = [lo_buf]
            if not int8_array:
                m.submodules.ho_buf = ho_buf = ActBuffer(rle_word_layout(cfg), cfg.abuf_ho_depth)
                wiring.connect(m, ho_src, ho_buf.i)
                ho_src = ho_buf.o
                bufs.append(ho_buf)
        wiring.connect(m, lo_src, ctrl.lo)
        if not int8_array:
            wiring.connect(m, ho_src, ctrl.ho)

        # ---- parameters (the CSR refuses writes to them while busy) ------------------------
        m.submodules.params = params = ParamCheck(config=cfg)
        m.d.comb += [
            params.mode.eq(csr.mode), params.rval.eq(csr.rval), params.zp.eq(csr.zp),
            params.split.eq(csr.split), params.dim_m.eq(csr.dim_m), params.dim_k.eq(csr.dim_k),
            params.dim_n.eq(csr.dim_n), params.start_in.eq(csr.start),
            ctrl.k_len.eq(params.k_len),
        ]
        if not int8_array:
            m.d.comb += ctrl.dense.eq(params.dense)

        # ---- sequencer and output bank --------------------------------------------------------
        m.submodules.seq = seq = Sequencer(config=cfg)
        m.submodules.bank = bank = OutputBank(config=cfg)
        if cfg.requant:         # bank -> requantization stage -> y (REQUANT_CYCLES later)
            m.submodules.requant = rq = RequantStage(config=cfg)
            wiring.connect(m, bank.y, rq.i)
            wiring.connect(m, rq.o, y_out.i)
            out, out_last = rq.o, rq.o_last
        else:
            wiring.connect(m, bank.y, y_out.i)
            out, out_last = bank.y, bank.y_last
        y_go = Signal()          # a y beat is sent
        w_go = Signal()          # a weight beat is accepted
        m.d.comb += [
            y_out.last.eq(out_last), y_go.eq(out.valid & out.ready),
            seq.start.eq(params.start), seq.bad_param.eq(params.bad), seq.k_len.eq(params.k_len),
            seq.dim_m.eq(csr.dim_m), seq.dim_n.eq(csr.dim_n), seq.abort.eq(csr.abort),
            seq.w_valid.eq(w_in.o.valid), w_in.o.ready.eq(seq.w_ready),
            w_go.eq(w_in.o.valid & w_in.o.ready),
            seq.pass_done.eq(ctrl.pass_done), seq.pass_chain.eq(ctrl.pass_chain),
            ctrl.active.eq(seq.ctrl_active), ctrl.restart.eq(seq.ctrl_restart),
            ctrl.chain.eq(seq.chain),
            seq.bank_empty.eq(bank.empty), seq.bank_done.eq(y_go & out_last),
            bank.load.eq(seq.handoff), bank.load_count.eq(seq.pass_rows),
            bank.load_last.eq(seq.pass_last), bank.flush.eq(seq.flush),
            csr.done.eq(seq.done), csr.error.eq(seq.error), csr.errcode.eq(seq.errcode),
            csr.err_word.eq(seq.err_word), csr.counters_clear.eq(seq.counters_clear),
            self.irq.eq(seq.done | seq.error),
            self.busy.eq(seq.busy), csr.busy.eq(seq.busy),
        ]
        if not int8_array:
            # the unpackers load from the bus only in a GEMM, and not while the activation
            # buffer replays (the bus then carries nothing of this run)
            unpack_en = Signal()
            if abuf:
                replaying = Signal()
                with m.If(seq.abuf_record):
                    m.d.sync += replaying.eq(0)
                with m.Elif(seq.abuf_replay):
                    m.d.sync += replaying.eq(1)
                m.d.comb += unpack_en.eq(seq.busy & ~replaying)
            else:
                m.d.comb += unpack_en.eq(seq.busy)
            m.d.comb += [seq.ctrl_error.eq(ctrl.error), seq.ctrl_error_code.eq(ctrl.error_code),
                         seq.word_valid.eq(ctrl.word_valid),
                         # a pass's packing starts at a fresh beat: drop the leftover
                         # (a chained pass, ``pass_chain``, is late: the unpackers have its
                         # first items loaded ahead and only offer them)
                         lo_unpack.restart.eq(seq.ctrl_restart), lo_unpack.chain.eq(ctrl.pass_chain),
                         ho_unpack.restart.eq(seq.ctrl_restart), ho_unpack.chain.eq(ctrl.pass_chain),
                         lo_unpack.more.eq(seq.more), ho_unpack.more.eq(seq.more),
                         lo_unpack.split.eq(params.pe_split),
                         lo_unpack.k_len.eq(params.k_len),
                         lo_unpack.enable.eq(unpack_en), ho_unpack.enable.eq(unpack_en),
                         ho_unpack.split.eq(params.pe_split),
                         # framing: TLAST ends each pass's packed beats; a truncated pass
                         # ends the GEMM (lo checked first)
                         lo_unpack.i_last.eq(lo_in.last), ho_unpack.i_last.eq(ho_in.last),
                         lo_unpack.clear.eq(seq.counters_clear),
                         ho_unpack.clear.eq(seq.counters_clear),
                         seq.stream_error.eq(lo_unpack.error | ho_unpack.error),
                         seq.stream_error_code.eq(Mux(lo_unpack.error, ErrorCode.LO_TRUNCATED,
                                                      ErrorCode.HO_TRUNCATED)),
                         seq.stream_error_word.eq(Mux(lo_unpack.error, lo_unpack.error_index,
                                                      ho_unpack.error_index))]
        handoff, load_k = seq.handoff, seq.load_k
        if abuf:
            overflow, wrote, read = bufs[0].overflow, bufs[0].wrote, bufs[0].read
            for buf in bufs[1:]:
                overflow, wrote, read = overflow | buf.overflow, wrote + buf.wrote, read + buf.read
            m.d.comb += seq.abuf_overflow.eq(overflow)
            for buf in bufs:
                m.d.comb += [buf.record.eq(seq.abuf_record), buf.replay.eq(seq.abuf_replay)]
            abuf_inc = {"abuf_writes": wrote, "abuf_reads": read}
        w_wr = w_go              # a weight row is written (w beats minus requant header beats)
        if cfg.requant:
            w_wr = Signal()
            m.d.comb += [
                w_wr.eq(w_go & ~seq.hdr_we), seq.rq_en.eq(csr.rq_en),
                rq.i_last.eq(bank.y_last), rq.flush.eq(seq.flush),
                rq.en.eq(csr.rq_en), rq.out_zp.eq(csr.rq_zp),
                rq.hdr_we.eq(seq.hdr_we), rq.hdr_data.eq(w_in.o.payload), rq.commit.eq(handoff),
            ]

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
                pea.w_we.eq(w_wr),
                pea.w_addr.eq(load_k),
                pea.w_data.eq(w_bits[p * lane_bits:(p + 1) * lane_bits]),
                pea.comp_clear.eq(w_wr & (load_k == 0)),
                # the LOAD overlap: weight-buffer halves, the next block's term
                pea.w_half.eq(seq.w_half), pea.r_half.eq(seq.r_half),
                pea.comp_other.eq(seq.w_other), pea.term_swap.eq(seq.term_swap),
            ]
            if int8_array:
                m.d.comb += load + [
                    *[getattr(pea, name).eq(issue[name]) for name in issue_names],
                    pea.z.eq(params.pe_z),
                    pea.acc_clear.eq(handoff | seq.block_init),
                ]
                continue
            m.d.comb += load + [
                *[getattr(pea, name).eq(issue[name]) for name in issue_names],
                *([pea.s.eq(params.pe_s)] if skip else []), pea.z.eq(params.pe_z),
                pea.split.eq(params.pe_split),
                pea.acc_clear.eq(handoff | seq.block_init),
            ]

        # ---- output bank: load at HANDOFF (the PEAs' rows), send one row per y beat ----------
        for r in range(rows_pp):
            for p, pea in enumerate(peas):
                for c in range(pea_cols):
                    m.d.comb += bank.rows[r][p * pea_cols + c].eq(pea.y[r * pea_cols + c])

        # ---- performance counters (order of golden_model.cycle_model.counter_names) ----------
        if int8_array:      # one MAC beat per cycle on the INT8 array, counted as the SWO's
            inc = {
                "cycles": self.busy,
                "swo_busy": ctrl.mac_en,
                "dwo_busy": 0,
                "comp_busy": w_wr + handoff,
                "rle_words": 0,
                "skipped_vectors": 0,
                "wbuf_writes": w_wr,
                "wbuf_reads": ctrl.mac_en,
                "ext_in_words": w_go + wrote if abuf else w_go + ctrl.mac_en,
                "ext_out_words": y_go,
                **(abuf_inc if abuf else {}),
            }
            assert set(inc) == set(counter_names(cfg)), "a counter of the cycle model is not wired"
            for i, name in enumerate(counter_names(cfg)):
                m.d.comb += csr.counter_inc[i].eq(inc[name])
            return m
        word_go = Signal()
        lo_beat_go, ho_beat_go = Signal(), Signal()     # packed bus beats taken
        m.d.comb += [word_go.eq(ctrl.word_valid),
                     lo_beat_go.eq(lo_in.o.valid & lo_in.o.ready),
                     ho_beat_go.eq(ho_in.o.valid & ho_in.o.ready)]
        inc = {
            "cycles": self.busy,
            "swo_busy": ctrl.swo_en,
            "dwo_busy": ctrl.dwo_en,
            "comp_busy": w_wr + handoff,
            "rle_words": word_go,
            "skipped_vectors": Mux(word_go, ctrl.skipped, 0),
            "wbuf_writes": w_wr,
            "wbuf_reads": ctrl.swo_en + ctrl.dwo_en,
            "ext_in_words": w_go + lo_beat_go + ho_beat_go,     # bus beats (packed lo / ho)
            "ext_out_words": y_go,
            **(abuf_inc if abuf else {}),
        }
        assert set(inc) == set(counter_names(cfg)), "a counter of the cycle model is not wired"
        for i, name in enumerate(counter_names(cfg)):
            m.d.comb += csr.counter_inc[i].eq(inc[name])
        return m
