"""The fcompute SDK client: the FC 2.0 API (2016-08-15) over httpx.

    with Client("http://127.0.0.1:9000") as fc:
        fc.create_service("demo")
        fc.create_function("demo", "hello", handler="index.handler", code="./hello")
        result = fc.invoke("demo", "hello", {"name": "you"}, log_tail=True)
        version = fc.publish_version("demo")
        fc.create_alias("demo", "prod", version.version_id)
        fc.invoke("demo", "hello", qualifier="prod")
"""

from __future__ import annotations

from types import TracebackType

from fcompute.sdk.aliases import AliasesMixin
from fcompute.sdk.async_invocations import AsyncInvocationsMixin
from fcompute.sdk.functions import FunctionsMixin
from fcompute.sdk.invocation import InvocationMixin
from fcompute.sdk.services import ServicesMixin
from fcompute.sdk.transport import Transport
from fcompute.sdk.triggers import TriggersMixin
from fcompute.sdk.versions import VersionsMixin

DEFAULT_TIMEOUT = 300.0


class Client(ServicesMixin, FunctionsMixin, TriggersMixin, VersionsMixin, AliasesMixin,
             InvocationMixin, AsyncInvocationsMixin):
    """A connection to one fcompute (or FC 2.0) endpoint.

    With ``access_key_id``/``access_key_secret`` every request is signed; without
    them requests go out unsigned, which a platform without access keys accepts.
    ``timeout`` bounds each call in seconds, an invocation's run time included.
    """

    def __init__(
        self,
        endpoint: str,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        security_token: str | None = None,
    ) -> None:
        self._transport = Transport(endpoint, access_key_id, access_key_secret, timeout,
                                    security_token)

    @property
    def endpoint(self) -> str:
        return self._transport.endpoint

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
