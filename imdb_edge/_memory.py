"""The peak resident memory of this process, for benchmarks, model cards and checks."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (float).

    Read from ``VmHWM`` in ``/proc/self/status``: the high-water mark of this process's own
    address space. ``getrusage().ru_maxrss`` is only the fallback (no ``/proc``): Linux carries
    it across ``exec``, so a program started by ``subprocess`` from a large parent (CPython
    uses ``vfork``) reports the parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
