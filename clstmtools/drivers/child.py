"""A program started by another (a sweep's trial, a fold): asks Linux for SIGTERM when its parent dies (it then saves its model and stops), then becomes the program.

The parent starts it as ``python -m clstmtools.drivers.child PARENT_PID PROGRAM DATA...``: the request is
made here, after the fork, in a process of its own, and not between fork and exec in the parent (a
``preexec_fn``), which Python documents as unsafe while the parent runs other threads (a sweep worker's
heartbeat).
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal a process gets when its parent ends; kept across exec


def main(argv):
    parent, program, *data = argv
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(parent):  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
    os.execv(sys.executable, [sys.executable, "-m", f"clstmtools.drivers.{program}", *data])


if __name__ == "__main__":
    main(sys.argv[1:])
