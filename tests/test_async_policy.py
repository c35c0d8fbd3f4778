"""The async retry policy: pure functions, no platform needed."""

from __future__ import annotations

import itertools

import pytest

from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.policy import (
    Backoff,
    ErrorClass,
    RetryLimits,
    Verdict,
    async_instance_share,
    classify,
    compute_backoff,
    decide,
    is_expired,
)

NO_JITTER = Backoff(base_s=1.0, factor=2.0, cap_s=300.0, jitter=0.0)


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("ValueError", ErrorClass.FUNCTION),  # an unhandled exception of the handler
        ("Runtime.Timeout", ErrorClass.FUNCTION),
        ("Runtime.OutOfMemory", ErrorClass.FUNCTION),
        ("Runtime.ExitError", ErrorClass.FUNCTION),
        ("Runtime.ImportModuleError", ErrorClass.FUNCTION),
        ("Runtime.InitializerError", ErrorClass.FUNCTION),
        ("Runtime.StartError", ErrorClass.SYSTEM),
        (policy.THROTTLED, ErrorClass.SYSTEM),
        (policy.INTERRUPTED, ErrorClass.SYSTEM),
        (policy.INTERNAL, ErrorClass.SYSTEM),
        ("FunctionNotFound", ErrorClass.PERMANENT),
        ("ServiceNotFound", ErrorClass.PERMANENT),
        (policy.CODE_GONE, ErrorClass.PERMANENT),
        ("", ErrorClass.FUNCTION),
    ],
)
def test_classify(error_type: str, expected: ErrorClass) -> None:
    assert classify(error_type) is expected


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [compute_backoff(n, NO_JITTER) for n in range(1, 12)]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert delays[-1] == 300.0
    assert all(a <= b for a, b in itertools.pairwise(delays))


def test_backoff_never_overflows() -> None:
    assert compute_backoff(10_000, NO_JITTER) == 300.0


def test_jitter_spreads_within_the_band() -> None:
    backoff = Backoff(base_s=10.0, factor=2.0, cap_s=300.0, jitter=0.2)
    assert compute_backoff(1, backoff, rand=0.0) == pytest.approx(8.0)
    assert compute_backoff(1, backoff, rand=0.5) == pytest.approx(10.0)
    assert compute_backoff(1, backoff, rand=0.999999) == pytest.approx(12.0, rel=1e-4)


def test_backoff_counts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        compute_backoff(0, NO_JITTER)


LIMITS = RetryLimits(max_retry_attempts=3, max_event_age_s=3600)


def test_function_errors_retry_up_to_the_limit_then_fail() -> None:
    now = 1_000_000
    verdicts = [
        decide(ErrorClass.FUNCTION, function_errors=n, system_errors=0, created_ms=now,
               now_ms=now, limits=LIMITS, backoff=NO_JITTER)
        for n in range(1, 6)
    ]
    assert [d.verdict for d in verdicts] == [Verdict.RETRY] * 3 + [Verdict.FAIL] * 2
    assert [d.retry_at_ms for d in verdicts[:3]] == [now + 1000, now + 2000, now + 4000]


def test_zero_retries_fails_at_once() -> None:
    decision = decide(ErrorClass.FUNCTION, function_errors=1, system_errors=0, created_ms=0,
                      now_ms=0, limits=RetryLimits(0, 3600), backoff=NO_JITTER)
    assert decision.verdict is Verdict.FAIL


def test_system_errors_ignore_the_retry_count_and_expire_with_age() -> None:
    limits = RetryLimits(max_retry_attempts=0, max_event_age_s=60)
    created = 0
    # Far more system errors than retries allowed: still retried while the age allows.
    early = decide(ErrorClass.SYSTEM, function_errors=0, system_errors=5, created_ms=created,
                   now_ms=1000, limits=limits, backoff=NO_JITTER)
    assert early.verdict is Verdict.RETRY
    assert early.retry_at_ms == 1000 + 16_000
    # The next retry would start after the age limit: the event expires instead.
    late = decide(ErrorClass.SYSTEM, function_errors=0, system_errors=6, created_ms=created,
                  now_ms=40_000, limits=limits, backoff=NO_JITTER)
    assert late.verdict is Verdict.EXPIRE


def test_function_error_retry_beyond_the_age_limit_expires() -> None:
    decision = decide(ErrorClass.FUNCTION, function_errors=1, system_errors=0, created_ms=0,
                      now_ms=59_500, limits=RetryLimits(3, 60), backoff=NO_JITTER)
    assert decision.verdict is Verdict.EXPIRE


def test_permanent_errors_fail_at_once() -> None:
    decision = decide(ErrorClass.PERMANENT, function_errors=0, system_errors=0, created_ms=0,
                      now_ms=0, limits=LIMITS, backoff=NO_JITTER)
    assert decision.verdict is Verdict.FAIL


def test_decisions_are_reproducible() -> None:
    def once() -> policy.Decision:
        return decide(ErrorClass.FUNCTION, function_errors=2, system_errors=0, created_ms=0,
                      now_ms=10, limits=LIMITS, backoff=Backoff(jitter=0.5), rand=0.3)

    assert once() == once()


def test_expiry_is_measured_from_acceptance() -> None:
    limits = RetryLimits(max_event_age_s=10)
    assert not is_expired(1000, limits, 10_999)
    assert is_expired(1000, limits, 11_000)


@pytest.mark.parametrize(("cap", "share"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8), (17, 8)])
def test_async_gets_half_the_instances(cap: int, share: int) -> None:
    assert async_instance_share(cap) == share
