"""Tool flows: Verilog generation, GEMM jobs, synthesis, comparisons, sweeps."""
