"""How many client connections the platform can hold: the open-file limit, less a reserve.

Every connection is a file descriptor, and so is everything else the platform opens while
it serves: the database and its WAL, instance sockets and pidfds, log files, code packages.
Connections must never take the last of them, or one flood of idle sockets makes every
request fail on something unrelated ("Too many open files" opening the database).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

# Descriptors kept for everything but client connections: about 25 when idle, plus 2-3 per
# live instance and one per function log, so 256 leaves room for some 80 instances even
# under the common default limit of 1,024; larger limits keep a quarter.
MIN_RESERVE = 256
RESERVE_FRACTION = 4
# What "unlimited" becomes when the hard limit is RLIM_INFINITY (Linux caps it at
# fs.nr_open, 1,048,576 by default).
UNLIMITED_TARGET = 1 << 20


@dataclass(frozen=True)
class FileLimit:
    before: int  # the soft limit the process started with
    now: int  # the soft limit after raising it


def raise_file_limit() -> FileLimit:
    """Raises the soft RLIMIT_NOFILE to the hard limit (a process may, without privileges)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    current, ceiling = _finite(soft), _finite(hard)
    if current >= ceiling:
        return FileLimit(current, current)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (ValueError, OSError):  # an infinite hard limit above fs.nr_open
        return FileLimit(current, current)
    return FileLimit(current, ceiling)


def _finite(limit: int) -> int:
    return UNLIMITED_TARGET if limit == resource.RLIM_INFINITY else limit


def connection_capacity(file_limit: int) -> int:
    """Connections the platform accepts at once under ``file_limit`` descriptors.

    >>> connection_capacity(1024), connection_capacity(65536), connection_capacity(256)
    (768, 49152, 128)
    """
    reserve = min(max(MIN_RESERVE, file_limit // RESERVE_FRACTION), file_limit // 2)
    return max(1, file_limit - reserve)
