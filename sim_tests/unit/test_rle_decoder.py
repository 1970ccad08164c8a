# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of :class:`panacea_hdl.rtl.rle_decoder.RLEDecoder`.

Every expectation comes from the golden model: packets are built by
``golden_model.formats.rle_encode`` from random tiles and skip masks, and the literal
sequence, runs and errors are those of ``golden_model.formats.rle_decode``. For malformed
streams ``rle_decode`` gives the error class (by its message) and the word offset; the
literals the hardware may issue *before* a bad word come from a small step decoder written
here, which is itself checked against ``rle_decode`` on every stream.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_model import formats
from golden_model.config import preset
from golden_model.formats import END, LIT, SKIP, RESERVED, RLEError, pack_rle_word, rle_decode, rle_encode
from panacea_hdl.regmap import RLE_ERROR_CODES, ErrorCode
from panacea_hdl.rtl.rle_decoder import RLEDecoder

TINY = preset("tiny")
DEFAULT = preset("default")
#: three and four tiles per pass (tiles_per_pass): T packets per pass
TINY_T3, TINY_T4 = preset("tiny_t3"), preset("tiny_t4")
CFGS, CFG_IDS = [TINY, DEFAULT, TINY_T3, TINY_T4], ["tiny", "default", "tiny_t3", "tiny_t4"]


# ---- expectations -----------------------------------------------------------------------
def error_class(exc: RLEError):
    """ErrorCode of an ``rle_decode`` error; None for a truncated stream (the hardware
    simply waits for more words)."""
    if exc.reason == "truncated":
        return None
    return RLE_ERROR_CODES[exc.reason]


def golden_pass(cfg, words, K, dense):
    """Decode one pass (``tiles_per_pass`` packets) with ``rle_decode``.

    Returns ``(lits, consumed, finished, code, offset)``; ``lits`` is a list of
    ``(tile, k, vector tuple)``; on error ``lits`` is None (rle_decode gives no partial
    result). Dense mode adds the hardware's RLE_DENSE_RUN check (priority: below KIND and
    DATA, above SKIP_RUN, OVERRUN and SHORT on the same word).
    """
    lits, start, err = [], 0, None
    try:
        for tile in range(cfg.tiles_per_pass):
            pos, vec, start = rle_decode(cfg, words, K, start)
            lits += [(tile, int(p), tuple(int(x) for x in v)) for p, v in zip(pos, vec)]
    except RLEError as e:
        err = e
    end = err.offset if err is not None else start      # words rle_decode looked at
    if dense:
        for j in range(min(end + 1, len(words))):
            kind, run, data, _ = formats.unpack_rle_word(cfg, words[j])
            if run and kind != RESERVED and not (kind != LIT and data):
                if err is None or j < err.offset or error_class(err) in (
                        ErrorCode.RLE_SKIP_RUN, ErrorCode.RLE_OVERRUN, ErrorCode.RLE_SHORT):
                    return None, j + 1, False, ErrorCode.RLE_DENSE_RUN, j
                break
    if err is None:
        return lits, start, True, ErrorCode.NONE, None
    code = error_class(err)
    if code is None:                                     # truncated: all words taken
        return None, len(words), False, ErrorCode.NONE, None
    return None, err.offset + 1, False, code, err.offset


def step_decode(cfg, words, K, dense):
    """Independent word-by-word decoder (the rules of formats.py); same result tuple as
    :func:`golden_pass` but with the literals issued before an error."""
    k, tile, lits = 0, 0, []
    for i, w in enumerate(words):
        kind, run, data, slices = formats.unpack_rle_word(cfg, w)
        pos = k + run
        if kind == RESERVED:
            code = ErrorCode.RLE_KIND
        elif kind != LIT and data:
            code = ErrorCode.RLE_DATA
        elif dense and run:
            code = ErrorCode.RLE_DENSE_RUN
        elif kind == SKIP and run != cfg.max_run:
            code = ErrorCode.RLE_SKIP_RUN
        elif (kind == LIT and pos >= K) or (kind != LIT and pos > K):
            code = ErrorCode.RLE_OVERRUN
        elif kind == END and pos != K:
            code = ErrorCode.RLE_SHORT
        else:
            code = ErrorCode.NONE
        if code:
            return lits, i + 1, False, code, i
        if kind == LIT:
            lits.append((tile, pos, tuple(int(x) for x in slices)))
            k = pos + 1
        elif kind == SKIP:
            k = pos
        else:
            if tile == cfg.tiles_per_pass - 1:
                return lits, i + 1, True, ErrorCode.NONE, None
            k, tile = 0, tile + 1
    return lits, len(words), False, ErrorCode.NONE, None


def expected_pass(cfg, words, K, dense):
    """Golden result of one pass, cross-checked between rle_decode and the step decoder."""
    g = golden_pass(cfg, words, K, dense)
    s = step_decode(cfg, words, K, dense)
    assert g[1:] == s[1:], (g, s)
    if g[0] is not None:
        assert g[0] == s[0]
    return s


def random_tile(cfg, K, p_skip, rng):
    ho = rng.integers(0, 1 << cfg.ho_bits, size=(cfg.group_size, K))
    skip = rng.random(K) < p_skip
    return ho, skip


def random_pass(cfg, K, p_skip, rng):
    """A valid pass: the packets of T random tiles; returns (words, expected literals, runs)."""
    words, lits, skipped = [], [], 0
    for tile in range(cfg.tiles_per_pass):
        ho, skip = random_tile(cfg, K, p_skip, rng)
        words += rle_encode(cfg, ho, skip)
        lits += [(tile, int(k), tuple(int(x) for x in ho[:, k])) for k in np.flatnonzero(~skip)]
        skipped += int(skip.sum())
    return words, lits, skipped


# ---- the simulation driver ----------------------------------------------------------------
def run_decoder(cfg, passes, *, seed=0, p_valid=1.0, p_active=1.0, tail=3):
    """Simulate ``passes`` (list of ``(words, K, dense)``) back to back, with a restart cycle
    between them, and return one record per pass.

    A record holds the literals (tile, k, vector), the ``skipped`` output of every accepted
    word, the number of accepted words, the final finished/error/error_code, and the number
    of cycles. Cycle-level contracts are asserted on the way: ``ready`` is exactly
    ``active & ~finished & ~error``; ``word_valid`` marks exactly the handshakes;
    ``lit_valid``/``skipped`` are 0 without a handshake; finished/error rise exactly one
    cycle after the word that causes them and nothing is accepted after.
    """
    dut = RLEDecoder(config=cfg)
    rng = random.Random(seed)
    wbits = formats.rle_word_bits(cfg)
    records = []

    async def tb(ctx):
        for words, K, dense in passes:
            ctx.set(dut.k_len, K)
            ctx.set(dut.dense, dense)
            # a pass starts with a restart while K is in place (the decoder latches K - k)
            ctx.set(dut.words.valid, 0)
            ctx.set(dut.active, 0)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            rec = {"lits": [], "skipped": [], "accepted": 0, "cycles": 0}
            i, last_accept, done_at, cycle = 0, None, None, 0
            while True:
                active = rng.random() < p_active
                valid = i < len(words) and rng.random() < p_valid
                ctx.set(dut.active, active)
                ctx.set(dut.words.valid, valid)
                ctx.set(dut.words.payload.as_value(),
                        words[i] if valid else rng.getrandbits(wbits))
                ready = ctx.get(dut.words.ready)
                fin, err = ctx.get(dut.finished), ctx.get(dut.error)
                assert ready == (active and not fin and not err)
                if (fin or err) and done_at is None:
                    done_at = cycle
                    assert last_accept == cycle - 1, "finished/error must rise the cycle after its word"
                took = bool(ready and valid)
                assert ctx.get(dut.word_valid) == took
                if took:
                    assert done_at is None
                    if ctx.get(dut.lit_valid):
                        rec["lits"].append((ctx.get(dut.lit_tile), ctx.get(dut.lit_k), tuple(
                            formats.unpack_lanes(ctx.get(dut.lit_ah.as_value()), cfg.ho_bits,
                                                 cfg.group_size, signed=False).tolist())))
                    rec["skipped"].append(ctx.get(dut.skipped))
                    i += 1
                    last_accept = cycle
                else:
                    assert not ctx.get(dut.lit_valid)
                    assert ctx.get(dut.skipped) == 0
                await ctx.tick()
                cycle += 1
                if done_at is not None and cycle >= done_at + tail:
                    break
                if done_at is None and i >= len(words) and cycle > last_accept + tail:
                    break
            rec["accepted"] = i
            rec["finished"] = bool(ctx.get(dut.finished))
            rec["error"] = bool(ctx.get(dut.error))
            rec["error_code"] = ErrorCode(ctx.get(dut.error_code))
            rec["cycles"] = cycle
            records.append(rec)
            # one restart cycle (as the top level's HANDOFF), then state must be clean
            ctx.set(dut.words.valid, 0)
            ctx.set(dut.active, rng.random() < 0.5)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            assert not ctx.get(dut.finished) and not ctx.get(dut.error)
            assert ctx.get(dut.error_code) == ErrorCode.NONE

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return records


def check_record(cfg, rec, words, K, dense):
    lits, consumed, finished, code, offset = expected_pass(cfg, words, K, dense)
    assert rec["accepted"] == consumed
    assert rec["finished"] == finished
    assert rec["error"] == (code != ErrorCode.NONE)
    assert rec["error_code"] == code
    assert rec["lits"] == lits
    # the skipped output is the run of every good word, 0 for the bad one
    runs = [formats.unpack_rle_word(cfg, w)[1] for w in words[:consumed]]
    if code != ErrorCode.NONE:
        runs[offset] = 0
    assert rec["skipped"] == runs


# ---- valid streams -----------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
def test_random_valid_passes(cfg):
    rng = np.random.default_rng(1234 + cfg.k_max)
    passes, golden = [], []
    for n in range(60):
        K = int(rng.choice([1, 2, 3, cfg.max_run, cfg.max_run + 1, 2 * cfg.max_run + 2,
                            int(rng.integers(1, min(cfg.k_max, 80) + 1))]))
        p_skip = float(rng.choice([0.0, 0.2, 0.5, 0.8, 0.95, 1.0]))
        words, lits, skipped = random_pass(cfg, K, p_skip, rng)
        passes.append((words, K, False))
        golden.append((lits, skipped))
    recs = run_decoder(cfg, passes, seed=7, p_valid=0.7, p_active=0.9)
    for rec, (words, K, dense), (lits, skipped) in zip(recs, passes, golden):
        check_record(cfg, rec, words, K, dense)
        assert rec["lits"] == lits                 # straight from the random tiles
        assert sum(rec["skipped"]) == skipped      # every skipped vector counted once
        assert rec["finished"] and not rec["error"]


@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
def test_extremes(cfg):
    """All skipped, none skipped, long escapes, K = 1 and K = k_max, dense mode."""
    rng = np.random.default_rng(5)
    G = cfg.group_size
    ho_kmax = rng.integers(0, 1 << cfg.ho_bits, size=(G, cfg.k_max))
    cases = []
    for K, skip in [
        (1, np.array([True])), (1, np.array([False])),
        (cfg.k_max, np.ones(cfg.k_max, bool)),                 # only SKIP escapes + END
        (cfg.k_max, np.zeros(cfg.k_max, bool)),                # every vector a literal
        (cfg.k_max, np.arange(cfg.k_max) % (cfg.max_run + 3) == 0),
        (3 * cfg.max_run + 1, np.arange(3 * cfg.max_run + 1) != 3 * cfg.max_run),
    ]:
        words = sum((rle_encode(cfg, ho_kmax[:, :K], ~skip if t % 2 else skip)
                     for t in range(cfg.tiles_per_pass)), [])
        cases.append((words, K, False))
    for K in (1, cfg.k_max):                                   # dense: no runs at all
        words = rle_encode(cfg, ho_kmax[:, :K], np.zeros(K, bool)) * cfg.tiles_per_pass
        cases.append((words, K, True))
    recs = run_decoder(cfg, cases, seed=3, p_valid=1.0)
    for rec, (words, K, dense) in zip(recs, cases):
        check_record(cfg, rec, words, K, dense)
        assert rec["finished"]
    # with every word valid a pass takes exactly one cycle per word (plus the tail)
    for rec, (words, _, _) in zip(recs, cases):
        assert rec["cycles"] == len(words) + 3


# ---- malformed streams ------------------------------------------------------------------
def malformed_cases(cfg, rng):
    """(name, words, K, dense, expected code) for each error kind, in tile 0, tile 1 and the
    last tile of the pass."""
    K = 2 * cfg.max_run + 3
    G, H = cfg.group_size, cfg.ho_bits
    ho, skip = random_tile(cfg, K, 0.5, rng)
    skip[0], skip[K - 1] = False, True
    good = rle_encode(cfg, ho, skip)
    cases = []

    def to_k(n, kind, data=None):  # SKIP escapes, then a `kind` word: k advances by exactly n
        q, rem = divmod(n, cfg.max_run)
        return [pack_rle_word(cfg, SKIP, cfg.max_run)] * q + [pack_rle_word(cfg, kind, rem, data)]

    for tile in sorted({0, 1, cfg.tiles_per_pass - 1}):
        def bad(words, name, code, dense=False):
            cases.append((f"{name}@tile{tile}", good * tile + words + (good if not tile else []),
                          K, dense, code))
        w = list(good)
        w[0] = w[0] | (RESERVED << (G * H + cfg.rle_run_bits))      # LIT -> kind 3
        bad(w, "kind", ErrorCode.RLE_KIND)
        w = list(good)
        w[-1] = w[-1] | 1                                            # END with data
        bad(w, "data_end", ErrorCode.RLE_DATA)
        w = list(good)
        w.insert(1, pack_rle_word(cfg, SKIP, cfg.max_run) | (1 << (H - 1)))   # SKIP with data
        bad(w, "data_skip", ErrorCode.RLE_DATA)
        w = to_k(K, LIT, [1] * G)                                    # literal at k = K
        bad(w, "overrun_lit", ErrorCode.RLE_OVERRUN)
        w = [pack_rle_word(cfg, LIT, 0, [3] * G)] + to_k(K - 1, LIT, [1] * G)   # run + literal at K
        bad(w, "overrun_lit_run", ErrorCode.RLE_OVERRUN)
        w = [pack_rle_word(cfg, SKIP, cfg.max_run)] * (K // cfg.max_run + 1)    # SKIP run past K
        bad(w, "overrun_skip", ErrorCode.RLE_OVERRUN)
        w = [pack_rle_word(cfg, LIT, 0, [2] * G)] + to_k(K, END)   # END reaches K + 1
        bad(w, "overrun_end", ErrorCode.RLE_OVERRUN)
        w = list(good)
        w.insert(1, pack_rle_word(cfg, SKIP, cfg.max_run - 1))       # short SKIP (no escape)
        bad(w, "skip_run", ErrorCode.RLE_SKIP_RUN)
        w = list(good)
        w.insert(1, pack_rle_word(cfg, SKIP, 0))                     # SKIP that advances nothing
        bad(w, "skip_run0", ErrorCode.RLE_SKIP_RUN)
        w = list(good[:-1]) + [pack_rle_word(cfg, END, 0)]            # END before K
        bad(w, "short", ErrorCode.RLE_SHORT)
        dense_good = rle_encode(cfg, ho, np.zeros(K, bool))
        w = list(dense_good)
        w[2] = pack_rle_word(cfg, SKIP, 1)                           # any nonzero run
        cases.append((f"dense_run@tile{tile}",
                      dense_good * tile + w + (dense_good if not tile else []), K, True,
                      ErrorCode.RLE_DENSE_RUN))
        w = list(dense_good)
        w[2] = pack_rle_word(cfg, SKIP, 1) | 1                       # DATA beats DENSE_RUN
        cases.append((f"dense_data@tile{tile}",
                      dense_good * tile + w + (dense_good if not tile else []), K, True,
                      ErrorCode.RLE_DATA))
    # priority: kind 3 with data and an overrunning run is a KIND error; a SKIP with data
    # and an overrun is a DATA error; END past K is OVERRUN, not SHORT
    cases.append(("prio_kind", [(RESERVED << (G * H + cfg.rle_run_bits)) | (cfg.max_run << (G * H)) | 1],
                  1, True, ErrorCode.RLE_KIND))
    cases.append(("prio_data", [pack_rle_word(cfg, SKIP, cfg.max_run) | 1], 1, False, ErrorCode.RLE_DATA))
    cases.append(("prio_overrun", [pack_rle_word(cfg, END, 2)], 1, False, ErrorCode.RLE_OVERRUN))
    return cases


@pytest.mark.parametrize("cfg", CFGS, ids=CFG_IDS)
def test_malformed_streams(cfg):
    rng = np.random.default_rng(11)
    cases = malformed_cases(cfg, rng)
    # every malformed pass is followed by a good one: the decoder recovers after restart
    passes, meta = [], []
    for name, words, K, dense, code in cases:
        g = golden_pass(cfg, words, K, dense)
        assert g[3] == code, f"{name}: the golden model classifies it as {g[3]!r}"
        passes.append((words, K, dense))
        meta.append(name)
        good, _, _ = random_pass(cfg, K, 0.5, rng)
        passes.append((good, K, False))
        meta.append(name + "+recover")
    # random stalls and some garbage offered after the bad word (it must not be taken)
    passes = [(w + ([pack_rle_word(cfg, LIT, 0, [1] * cfg.group_size)] * 3 if "+" not in n else []), K, d)
              for (w, K, d), n in zip(passes, meta)]
    recs = run_decoder(cfg, passes, seed=19, p_valid=0.8, p_active=0.9)
    for rec, (words, K, dense), name in zip(recs, passes, meta):
        check_record(cfg, rec, words, K, dense)
        if name.endswith("+recover"):
            assert rec["finished"] and not rec["error"], name
        else:
            assert rec["error"] and not rec["finished"], name


def test_restart_mid_pass():
    """A restart in the middle of a packet (e.g. after an abort) forgets the partial pass."""
    cfg = TINY
    rng = np.random.default_rng(2)
    words, lits, _ = random_pass(cfg, 20, 0.4, rng)
    # a pass truncated after a few words (the driver stops, restarts) then the full pass
    cut = words[: len(words) // 2]
    recs = run_decoder(cfg, [(cut, 20, False), (words, 20, False)], seed=1)
    assert not recs[0]["finished"] and not recs[0]["error"]
    assert recs[1]["finished"] and recs[1]["lits"] == lits


# ---- mutations (hypothesis) -------------------------------------------------------------
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_single_bit_flips(data):
    """A random single-bit flip of a valid pass decodes exactly as rle_decode says, or errors
    exactly when (and where) it raises."""
    cfg = data.draw(st.sampled_from(CFGS), label="cfg")
    K = data.draw(st.integers(1, 3 * cfg.max_run + 2), label="K")
    dense = data.draw(st.booleans(), label="dense")
    p_skip = 0.0 if dense else data.draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]), label="p_skip")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    words, _, _ = random_pass(cfg, K, p_skip, np.random.default_rng(seed))
    j = data.draw(st.integers(0, len(words) - 1), label="word")
    b = data.draw(st.integers(0, formats.rle_word_bits(cfg) - 1), label="bit")
    words[j] ^= 1 << b
    rec, = run_decoder(cfg, [(words, K, dense)], seed=seed, p_valid=0.75)
    check_record(cfg, rec, words, K, dense)


def test_bad_config_rejected():
    with pytest.raises(TypeError, match="config must be a golden_model.config.PanaceaConfig"):
        RLEDecoder(config={"group_size": 4})
    with pytest.raises(TypeError):
        RLEDecoder(TINY)  # keyword-only
    assert RLEDecoder(config=TINY).config is TINY
