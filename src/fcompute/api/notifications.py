"""Bucket notifications from external S3-compatible servers (MinIO, Ceph RGW).

    POST /2016-08-15/bucket-notifications     {"Records": [...]}  ->  200 once queued

Each record that is an object event fires the oss triggers whose sourceArn names its
bucket, exactly as the embedded store's own events do (``triggers/oss.py``). A bucket is
named by its name alone, as in OSS and S3, where bucket names are global: the embedded
store's buckets are its own, and a notification naming one of them is refused (409
``BucketNotExternal``), so that a misconfigured server cannot fire those triggers twice or
forge their events. Every other bucket name is an external bucket.

The answer is 200 only after every invocation is stored durably, so a server that
retries until it gets a 2xx (MinIO with ``queue_dir``, Ceph with ``persistent=true``)
never loses an event; a repeated delivery of the same record (same request id and
sequencer) finds the invocations of the first and starts none.

Who may send them (``FCOMPUTE_NOTIFICATION_TOKEN``, read at start-up):

- with a token, a request must present it: ``Authorization: Bearer <token>`` (MinIO's
  ``auth_token``), the header equal to the token (MinIO sends a two-word token such as
  ``Basic …`` verbatim), or ``?token=<token>`` in the URL (Ceph RGW cannot set headers on
  an HTTP endpoint); a request signed the FC way with the platform's keys is accepted too;
- without one, the platform's FC access keys decide: with keys, only FC-signed requests
  are accepted (which MinIO and Ceph cannot make: set a token for them); without keys
  (the platform on loopback) anything local is accepted, as the rest of the API is.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Any

from fcompute.api import auth
from fcompute.api.common import API_PREFIX
from fcompute.api.http import Request, Response, Send, json_response
from fcompute.api.routing import Router
from fcompute.errors import AccessDenied, Conflict
from fcompute.triggers import bucket_notifications
from fcompute.triggers.oss import Fired, OssTriggers

PATH = f"{API_PREFIX}/bucket-notifications"
TOKEN_ENV = "FCOMPUTE_NOTIFICATION_TOKEN"
BODY_LIMIT = 1024 * 1024


def token_from_env(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV, "").strip()


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


class NotificationsApi:
    def __init__(self, triggers: OssTriggers, embedded: Callable[[str], bool], *,
                 token: str, access_keys: dict[str, str]) -> None:
        self._triggers = triggers
        self._embedded = embedded
        self._token = token
        self._keys = access_keys

    def register(self, router: Router) -> None:
        router.add("POST", PATH, self.receive)

    def _authorize(self, request: Request) -> None:
        header = request.header("authorization")
        if self._token:
            presented = [request.query.get("token", ""), header,
                         header[7:] if header[:7].lower() == "bearer " else ""]
            if any(text and _same(text, self._token) for text in presented):
                return
            if self._keys and header.startswith("FC "):
                auth.verify(self._keys, request.method, request.raw_path, request.query_string,
                            request.headers)
                return
            raise AccessDenied(
                "bucket notifications need the platform's notification token: "
                "'Authorization: Bearer <token>' or '?token=<token>'"
            )
        if self._keys:
            # FC-signed (the front door checks it as well while this path needs signing).
            auth.verify(self._keys, request.method, request.raw_path, request.query_string,
                        request.headers)

    async def receive(self, request: Request, _send: Send) -> Response:
        self._authorize(request)
        notifications = bucket_notifications.parse(await request.json(BODY_LIMIT))
        for index, notification in enumerate(notifications.events):
            bucket = notification.event.bucket
            if self._embedded(bucket):
                raise Conflict(
                    f"Records[{index}] names bucket '{bucket}', a bucket of this platform's "
                    "own object store: its events come from the store itself, never "
                    "through notifications",
                    code="BucketNotExternal",
                )
        fired: list[Fired] = []
        for notification in notifications.events:
            fired += await self._triggers.fire(notification.event, notification.origin)
        invocations: list[dict[str, Any]] = [{
            "serviceName": one.trigger.service_name, "functionName": one.trigger.function_name,
            "triggerName": one.trigger.name, "invocationId": one.invocation_id,
            "repeated": one.repeated,
        } for one in fired]
        return json_response({"records": notifications.records,
                              "ignored": notifications.ignored, "invocations": invocations})
