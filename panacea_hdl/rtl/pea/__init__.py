"""The processing-element array: SWO, DWO, compensator, weight buffer, accumulators; the INT8 array of the dense variant."""
