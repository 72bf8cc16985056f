"""Image kernels: 8-bit codes turned into float32 levels through a table of 256."""
from .config import kernel


@kernel
def look_up(out, table, codes):
    """``out = table[codes]`` for 2-d ``codes`` (uint8) in one pass, where NumPy's fancy indexing
    first widens every code to an index."""
    height, width = codes.shape
    for row in range(height):
        for column in range(width):
            out[row, column] = table[codes[row, column]]
