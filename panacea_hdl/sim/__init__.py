"""Simulation backbone: cocotb runner and host, GEMM jobs on the RTL, the compiled Verilator host."""
