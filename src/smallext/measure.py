"""Measuring resource use: peak memory of the current process."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes).

    Read from ``VmHWM`` in /proc/self/status, which starts afresh at exec. ``ru_maxrss`` is only the
    fallback (non-Linux): Linux carries it across fork and exec, so a child would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
