"""Shared pytest options: slow soaks and FPGA place-and-route run only with --run-slow."""

import sys
from pathlib import Path

import pytest

# the cocotb test benches (tb_*.py) are imported by name inside the simulators, which get this
# process's sys.path as their PYTHONPATH
_BENCHES = str(Path(__file__).resolve().parent / "sim_tests" / "benches")
if _BENCHES not in sys.path:
    sys.path.insert(0, _BENCHES)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long soaks, FPGA place-and-route)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
