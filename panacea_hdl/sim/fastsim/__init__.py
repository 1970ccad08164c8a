"""Fast RTL path of the GEMM job: a compiled Verilator host instead of the cocotb bench.

See :mod:`panacea_hdl.sim.fastsim.fastsim` and ``docs/fastsim.md``.
"""

from .fastsim import (HARNESS_SOURCE, STALL_PROBABILITY, FastSimError, build_harness,
                      read_result, run_job_fast, run_jobs_fast, use_fast, verilator_env, write_job_file)

__all__ = ["run_job_fast", "run_jobs_fast", "build_harness", "write_job_file", "read_result", "use_fast",
           "verilator_env", "FastSimError", "HARNESS_SOURCE", "STALL_PROBABILITY"]
