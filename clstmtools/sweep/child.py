"""A trial's process: asks Linux for SIGTERM when its worker dies (it then saves its model and stops),
then becomes the trial's program.

The worker starts it as ``python -m clstmtools.sweep.child WORKER_PID PROGRAM DATA...``: the request is
made here, after the fork, in a process of its own, and not between fork and exec in the worker (a
``preexec_fn``), which Python documents as unsafe while the worker runs other threads (its heartbeat).
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal a process gets when its parent ends; kept across exec


def main(argv):
    worker, program, *data = argv
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(worker):  # the worker died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
    os.execv(sys.executable, [sys.executable, "-m", f"clstmtools.drivers.{program}", *data])


if __name__ == "__main__":
    main(sys.argv[1:])
