"""One attempt of one job: run the function (or deliver to a destination), then decide.

The worker turns what happened into a :class:`Settlement`; the dispatcher hands that
to the queue. All retry decisions come from :mod:`policy`.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable

from fcompute import errors
from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.config import DEFAULT as DEFAULT_CONFIG
from fcompute.asyncinvoke.config import AsyncConfigStore, AsyncInvokeConfig
from fcompute.asyncinvoke.destinations import (
    Deliverer,
    DestinationParser,
    destination_record,
    failure_condition,
)
from fcompute.asyncinvoke.gate import InstanceGate
from fcompute.asyncinvoke.queue import Job, NewDelivery, Settlement, now_ms
from fcompute.asyncinvoke.records import (
    AttemptStatus,
    CodeVersion,
    Condition,
    JobKind,
    JsonDict,
    Status,
)
from fcompute.codestore.base import CodeStore
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef, Resolved
from fcompute.invoke.invoker import Invoker
from fcompute.model import LATEST

log = logging.getLogger(__name__)


def pin(resolved: Resolved, version: CodeVersion) -> Resolved:
    """The current configuration running the code of ``version``.

    The ETag is changed with the code, so these instances get a pool of their own and
    never serve a request meant for the latest code.
    """
    function = resolved.function
    if function.code.digest == version.code_digest:
        return resolved
    pinned = dataclasses.replace(
        function, code=dataclasses.replace(function.code, digest=version.code_digest,
                                           checksum=version.code_checksum),
        etag=f"{function.etag}+{version.code_digest[:16]}",
    )
    return Resolved(resolved.service, pinned, resolved.qualifier, resolved.version)


def version_of(resolved: Resolved) -> CodeVersion:
    function = resolved.function
    return CodeVersion(resolved.qualifier, function.code.checksum, function.code.digest,
                       function.etag, resolved.version)


def _error_counter(error_class: policy.ErrorClass) -> str | None:
    return None if error_class is policy.ErrorClass.PERMANENT else error_class.value


class Worker:
    def __init__(
        self,
        *,
        catalog: FunctionCatalog,
        invoker: Invoker,
        configs: AsyncConfigStore,
        codestore: CodeStore,
        deliverer: Deliverer,
        parser: DestinationParser,
        gate: InstanceGate,
        backoff: policy.Backoff,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._catalog = catalog
        self._invoker = invoker
        self._configs = configs
        self._codestore = codestore
        self._deliverer = deliverer
        self._parser = parser
        self._gate = gate
        self._backoff = backoff
        self._rand = rand

    async def run(self, job: Job) -> Settlement:
        config = await self._configs.effective(job.service, job.function, job.qualifier,
                                               function_id=job.function_id)
        if job.kind is JobKind.DELIVERY:
            return await self._deliver(job, config)
        return await self._invoke(job, config)

    async def _invoke(self, job: Job, config: AsyncInvokeConfig) -> Settlement:
        if policy.is_expired(job.created_ms, config.limits, now_ms()):
            expired = {"errorType": policy.EXPIRED,
                       "errorMessage": f"the event waited longer than maxAsyncEventAgeInSeconds "
                                       f"({config.max_event_age_s} s) and was not run"}
            return self._final(job, config, AttemptStatus.EXPIRED, Status.EXPIRED, error=expired)
        try:
            async with self._gate.hold(job.capacity_key):
                # Resolved only once through the gate: an event may wait there while its
                # function is deleted, and must not then run on what it resolved before.
                try:
                    resolved = await self._resolve(job)
                except errors.NotFound as exc:
                    return self._gone(job, exc)
                if job.pinned is not None and job.pinned.version_id == LATEST:
                    resolved = pin(resolved, job.pinned)
                # A package that vanished from the code store cannot come back: the event
                # fails now, as the function's code being gone, instead of being retried.
                if not self._codestore.contains(resolved.function.code.digest):
                    return self._failed(job, config, {
                        "errorType": policy.CODE_GONE,
                        "errorMessage": f"code {resolved.function.code.checksum} of "
                                        f"{resolved.ref} (version {resolved.version}) is no "
                                        "longer stored",
                    }, None)
                version = version_of(resolved)
                result = await self._invoker.invoke(resolved, job.payload,
                                                    request_id=job.request_id)
        except errors.ResourceExhausted as exc:
            error: JsonDict = {"errorType": policy.THROTTLED, "errorMessage": exc.message}
        except Exception as exc:
            log.exception("async invocation %s: the platform failed to run it", job.invocation_id)
            error = {"errorType": policy.INTERNAL, "errorMessage": f"{type(exc).__name__}: {exc}"}
        else:
            if result.error is None:
                return self._final(job, config, AttemptStatus.SUCCEEDED, Status.SUCCEEDED,
                                   result=result.body, version=version)
            error = result.error
        return self._failed(job, config, error, version)

    async def _resolve(self, job: Job) -> Resolved:
        """The function the event was sent to; ``NotFound`` saying why if it is gone.

        A replay pinned to a published version runs that version, still as the qualifier
        it was sent to (whose async config and destinations apply).
        """
        pinned = job.pinned
        qualifier = job.qualifier if pinned is None or pinned.version_id == LATEST \
            else pinned.version_id
        try:
            resolved = await self._catalog.resolve(
                FunctionRef(job.service, qualifier, job.function))
            if qualifier != job.qualifier:
                resolved = Resolved(resolved.service, resolved.function, job.qualifier,
                                    resolved.version)
        except errors.NotFound as exc:
            if job.function_id is None:
                raise
            raise errors.NotFound(f"{exc.message}: it was deleted after this event was sent, "
                                  "so the event does not run", code=exc.code) from None
        if job.service_id is not None and resolved.service.id != job.service_id:
            raise errors.NotFound(
                f"service '{job.service}' was deleted after this event was sent and created "
                f"again (service id {job.service_id} then, {resolved.service.id} now); the "
                "event belonged to the deleted service and does not run on the new one",
                code="ServiceNotFound",
            )
        if job.function_id is not None and resolved.function.id != job.function_id:
            raise errors.NotFound(
                f"function '{job.service}/{job.function}' was deleted after this event was "
                f"sent and created again (function id {job.function_id} then, "
                f"{resolved.function.id} now); the event belonged to the deleted function "
                "and does not run on the new one",
                code="FunctionNotFound",
            )
        return resolved

    def _gone(self, job: Job, exc: errors.NotFound) -> Settlement:
        """Fails an event whose function was deleted: at once, and with no destination.

        The function's async config (destinations included) was deleted with it; the
        config of a function created later under the same name is not this event's.
        """
        error: JsonDict = {"errorType": exc.code, "errorMessage": exc.message}
        return self._final(job, DEFAULT_CONFIG, AttemptStatus.FAILED, Status.FAILED,
                           error=error, error_class=policy.classify(exc.code))

    def _failed(self, job: Job, config: AsyncInvokeConfig, error: JsonDict,
                version: CodeVersion | None) -> Settlement:
        error_class = policy.classify(str(error.get("errorType") or ""))
        now = now_ms()
        decision = policy.decide(
            error_class,
            function_errors=job.function_errors + (error_class is policy.ErrorClass.FUNCTION),
            system_errors=job.system_errors + (error_class is policy.ErrorClass.SYSTEM),
            created_ms=job.created_ms, now_ms=now, limits=config.limits,
            backoff=self._backoff, rand=self._rand(),
        )
        if decision.verdict is policy.Verdict.RETRY:
            return Settlement(AttemptStatus.FAILED, Status.RETRYING,
                              retry_at_ms=decision.retry_at_ms, error=error,
                              error_class=_error_counter(error_class), version=version,
                              ended_ms=now)
        expired = decision.verdict is policy.Verdict.EXPIRE
        return self._final(job, config, AttemptStatus.FAILED,
                           Status.EXPIRED if expired else Status.FAILED, error=error,
                           version=version, error_class=error_class)

    def _final(
        self, job: Job, config: AsyncInvokeConfig, attempt_status: AttemptStatus,
        status: Status, *, result: bytes | None = None, error: JsonDict | None = None,
        version: CodeVersion | None = None, error_class: policy.ErrorClass | None = None,
    ) -> Settlement:
        """A terminal settlement, with the delivery to the matching destination if any."""
        succeeded = status is Status.SUCCEEDED
        destination = config.on_success if succeeded else config.on_failure
        deliveries: tuple[NewDelivery, ...] = ()
        if destination:
            condition = "Success" if succeeded else failure_condition(
                str((error or {}).get("errorType", "")), status is Status.EXPIRED,
                error_class is policy.ErrorClass.PERMANENT)
            record = destination_record(
                job=job, function_arn=self._parser.function_arn(
                    job.service, job.qualifier, job.function),
                condition=condition, result=result, error=error,
            )
            deliveries = (NewDelivery(
                Condition.ON_SUCCESS if succeeded else Condition.ON_FAILURE, destination, record
            ),)
        return Settlement(attempt_status, status, result=result, error=error,
                          error_class=_error_counter(error_class) if error_class else None,
                          version=version, deliveries=deliveries)

    async def _deliver(self, job: Job, config: AsyncInvokeConfig) -> Settlement:
        error = await self._deliverer.deliver(job)
        if error is None:
            return Settlement(AttemptStatus.SUCCEEDED, Status.SUCCEEDED)
        # A destination that fails is the platform's problem to retry, like a system
        # error: with backoff, until the source function's event age runs out.
        decision = policy.decide(
            policy.ErrorClass.SYSTEM, function_errors=0, system_errors=job.system_errors + 1,
            created_ms=job.created_ms, now_ms=now_ms(), limits=config.limits,
            backoff=self._backoff, rand=self._rand(),
        )
        if decision.verdict is policy.Verdict.RETRY:
            return Settlement(AttemptStatus.FAILED, Status.RETRYING,
                              retry_at_ms=decision.retry_at_ms, error=error,
                              error_class="system")
        log.warning("async invocation %s: delivery to %s failed for good after %d attempts: %s",
                    job.parent_id, job.destination, job.attempt, error.get("errorMessage"))
        return Settlement(AttemptStatus.FAILED, Status.FAILED, error=error, error_class="system")
