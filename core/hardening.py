"""Process-wide protections every entry point turns on first (issue 12).

The process holds the Google cookie (and database passwords) in memory: a core dump would
write them to disk, where they outlive the process, and a same-user debugger could read them.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def no_core_dumps() -> None:
    """No core file, ever (RLIMIT_CORE 0, soft and hard, inherited by every child: the embedded
    server too), and on Linux not dumpable (``PR_SET_DUMPABLE`` 0: no ptrace attach by the same
    user, /proc/PID/mem and environ closed to it). Where a call does not exist, the rest still
    applies."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # Windows has no resource module
        pass
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        # The C library is already loaded into the interpreter: no library search (ldconfig) needed.
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_DUMPABLE) not available")
