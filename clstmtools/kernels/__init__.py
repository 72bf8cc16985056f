"""Numba kernels: jitted free functions over preallocated float32 arrays (imports only NumPy and Numba)."""
