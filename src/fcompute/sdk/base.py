"""What the resource groups of the client share: JSON calls, paths and pagination."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fcompute.sdk.errors import FcApiError
from fcompute.sdk.models import JsonDict, Page
from fcompute.sdk.transport import Transport

T = TypeVar("T")


def service_path(service: str, qualifier: str | None = None) -> str:
    # Qualifiers travel inside the path segment: services/{name}.{qualifier}
    if not qualifier:
        return f"/services/{service}"
    if "/" in qualifier or "." in service:
        # The platform splits the segment on its first dot, and a slash ends the segment.
        raise ValueError(f"cannot qualify {service!r} with {qualifier!r}")
    return f"/services/{service}.{qualifier}"


def function_path(service: str, function: str, qualifier: str | None = None) -> str:
    return f"{service_path(service, qualifier)}/functions/{function}"


def compact(fields: dict[str, Any]) -> JsonDict:
    """Drops the fields the caller left out, so updates change only what was given."""
    return {k: v for k, v in fields.items() if v is not None}


class ClientBase:
    _transport: Transport

    def _call(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        *,
        params: dict[str, str] | None = None,
        if_match: str | None = None,
    ) -> tuple[JsonDict, str]:
        """One management call: returns the decoded JSON body and the ETag."""
        headers = {"if-match": if_match} if if_match else None
        content = json.dumps(body).encode() if body is not None else b""
        response = self._transport.send(method, path, params=params, body=content,
                                        headers=headers)
        if method == "DELETE" or not response.content:
            return {}, response.headers.get("etag", "")
        try:
            data = response.json()
        except ValueError:
            raise FcApiError(response.status_code, "InvalidResponse",
                             f"expected JSON from {method} {path}, got {response.text[:200]!r}",
                             response.headers.get("x-fc-request-id", "")) from None
        if not isinstance(data, dict):
            raise FcApiError(response.status_code, "InvalidResponse",
                             f"expected a JSON object from {method} {path}",
                             response.headers.get("x-fc-request-id", ""))
        return data, response.headers.get("etag", "")

    def _page(
        self,
        path: str,
        key: str,
        build: Callable[[JsonDict], T],
        prefix: str,
        limit: int | None,
        next_token: str | None,
    ) -> Page[T]:
        params = compact({"prefix": prefix or None, "nextToken": next_token,
                          "limit": str(limit) if limit else None})
        data, _ = self._call("GET", path, params=params)
        items = data.get(key) or []
        return Page([build(item) for item in items], data.get("nextToken") or None)


def iterate(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a listing, fetching the next page only when the previous one ran out."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page.items
        if not page.next_token:
            return
        token = page.next_token
