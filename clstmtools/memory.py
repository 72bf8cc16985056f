"""Memory reuse for recognition: the C library is asked to keep freed memory for the next minibatch instead of returning it to the system.

Every minibatch sizes the network's buffers by its longest line, so they are freed and allocated
again at each one. glibc hands blocks of more than 128 kB back to the system when they are freed
(and trims the top of its heap), so each new buffer is fresh memory: a page fault for every 4 kB
touched. Over the 450 uw3-500 lines of ``mode=text`` that was 40,000 faults and about 0.15 s of
CPU time. Only recognition asks for this: a training run's memory peak is what its users watch.
"""
import ctypes
import ctypes.util

#: glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: blocks up to this size come from the heap, where a freed block is reused (not the system's pages)
MMAP_THRESHOLD = 256 << 20
#: free memory at the top of the heap is kept up to this much
TRIM_THRESHOLD = 512 << 20


def keep_freed_memory():
    """Ask glibc to keep freed blocks for reuse; True where it agreed, False elsewhere (another C library)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
