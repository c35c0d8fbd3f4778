"""Retry policy of async invocations, as pure functions: no clock, no randomness, no I/O.

FC distinguishes two kinds of failure (see docs/async.md):

- a **function error** is the code's fault (unhandled exception, timeout, out of memory,
  the instance exiting mid-run, a failing initializer). It is retried at most
  ``maxAsyncRetryAttempts`` times, with backoff.
- a **system error** is the platform's (the instance could not start, the function's
  instance cap stayed busy, the platform stopped mid-run). Nothing is wrong with the
  event, so it is retried with exponential backoff until ``maxAsyncEventAgeInSeconds``
  runs out, then the event expires.

A third kind, **permanent**, covers failures no retry can fix (the function was deleted).
Callers pass the current time and a random number in, so every decision is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fcompute.runtime import errors as runtime_errors

DEFAULT_MAX_RETRY_ATTEMPTS = 3
MAX_RETRY_ATTEMPTS = 8
DEFAULT_MAX_EVENT_AGE_S = 86400
MAX_EVENT_AGE_S = 604800

# Error types the platform itself reports for system failures (runtime ones come from
# ``fcompute.runtime.errors``).
THROTTLED = "Platform.Throttled"
INTERRUPTED = "Platform.Interrupted"
INTERNAL = "Platform.InternalError"
FUNCTION_GONE = "FunctionNotFound"
SERVICE_GONE = "ServiceNotFound"
CODE_GONE = "Platform.CodeNotFound"
EXPIRED = "Platform.EventExpired"

SYSTEM_ERROR_TYPES = frozenset({runtime_errors.START_FAILED, THROTTLED, INTERRUPTED, INTERNAL})
PERMANENT_ERROR_TYPES = frozenset({FUNCTION_GONE, SERVICE_GONE, CODE_GONE})


class ErrorClass(StrEnum):
    FUNCTION = "function"
    SYSTEM = "system"
    PERMANENT = "permanent"


class Verdict(StrEnum):
    RETRY = "retry"
    FAIL = "fail"
    EXPIRE = "expire"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (n - 1)`` seconds, capped, with +/- jitter."""

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 300.0
    # Spread of each delay, as a fraction: 0.2 means 80 %..120 % of the nominal delay.
    # Without it, events that failed together retry together and fail together again.
    jitter: float = 0.2


@dataclass(frozen=True)
class RetryLimits:
    """The function's async-invoke-config, as far as retries go."""

    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    retry_at_ms: int | None = None


def classify(error_type: str) -> ErrorClass:
    """Which kind of failure an ``errorType`` is; anything unknown is the function's own."""
    if error_type in SYSTEM_ERROR_TYPES:
        return ErrorClass.SYSTEM
    if error_type in PERMANENT_ERROR_TYPES:
        return ErrorClass.PERMANENT
    return ErrorClass.FUNCTION


def compute_backoff(attempt: int, backoff: Backoff, rand: float = 0.5) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``rand`` in [0, 1) places the delay inside the jitter band; 0.5 is the nominal delay.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # Exponent clamped before it is computed: 2.0 ** 5000 would overflow a float.
    exponent = min(attempt - 1, 64)
    nominal = min(backoff.cap_s, backoff.base_s * backoff.factor ** exponent)
    return max(0.0, nominal * (1.0 + backoff.jitter * (2.0 * rand - 1.0)))


def deadline_ms(created_ms: int, limits: RetryLimits) -> int:
    return created_ms + limits.max_event_age_s * 1000


def is_expired(created_ms: int, limits: RetryLimits, now_ms: int) -> bool:
    """An event older than ``maxAsyncEventAgeInSeconds`` is not run any more."""
    return now_ms >= deadline_ms(created_ms, limits)


def decide(
    error_class: ErrorClass,
    *,
    function_errors: int,
    system_errors: int,
    created_ms: int,
    now_ms: int,
    limits: RetryLimits,
    backoff: Backoff,
    rand: float = 0.5,
) -> Decision:
    """What happens after a failed attempt.

    ``function_errors`` and ``system_errors`` count the failed attempts of each kind so
    far, the one just failed included. A retry that would start after the event's age
    limit is not scheduled: the event expires instead.
    """
    if error_class is ErrorClass.PERMANENT:
        return Decision(Verdict.FAIL)
    if error_class is ErrorClass.FUNCTION:
        if function_errors > limits.max_retry_attempts:
            return Decision(Verdict.FAIL)
        delay = compute_backoff(function_errors, backoff, rand)
    else:
        delay = compute_backoff(max(1, system_errors), backoff, rand)
    retry_at = now_ms + round(delay * 1000)
    if retry_at >= deadline_ms(created_ms, limits):
        return Decision(Verdict.EXPIRE)
    return Decision(Verdict.RETRY, retry_at)


def async_instance_share(max_instances: int) -> int:
    """How many of a function's instances async invocations may hold at once.

    Half of the cap, rounded down, and at least one: the other half stays free for
    synchronous callers, so a burst of queued events never makes them wait for an
    instance. With a cap of 1 both share the single instance; the pool hands a released
    instance to the longest waiter first, so a sync request waits for at most one async
    event, never for the whole queue.
    """
    return max(1, max_instances // 2)
