#!/usr/bin/env python
"""Plot the MiniLM-L6 report: skipped HO vectors per layer and mode, cosine per numeric path.

Usage::

    python scripts/plot_minilm.py                       # run the report (default config), plot
    python scripts/plot_minilm.py --report r.json       # plot a saved report (panacea model
                                                        #   minilm --report r.json), no rerun
    python scripts/plot_minilm.py --preset paper --out build/minilm_paper

Writes ``minilm_skip_per_layer.png`` and ``minilm_cosine.png`` into ``--out``
(default ``build/minilm``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from golden_model.config import PRESETS, load_config, preset  # noqa: E402
from golden_model.model_report import format_report, minilm_report, plot_report  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, default=None,
                    help="saved JSON report to plot instead of running the model")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--preset", choices=sorted(PRESETS), default="default")
    g.add_argument("--config", type=Path, default=None, help="JSON design parameters")
    ap.add_argument("--out", type=Path, default=Path("build/minilm"), help="plot directory")
    args = ap.parse_args(argv)
    if args.report is not None:
        d = json.loads(args.report.read_text())
    else:
        cfg = load_config(args.config) if args.config else preset(args.preset)
        d = minilm_report(cfg=cfg)
        print(format_report(d))
    for f in plot_report(d, args.out):
        print(f"plot: {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
