"""HTTP plumbing of the SDK: request signing and the mapping of failures to SDK errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import httpx

from fcompute import __version__
from fcompute.api import auth
from fcompute.sdk.errors import FcApiError, FcConnectionError, FcTimeoutError

API_VERSION = "2016-08-15"
USER_AGENT = f"fcompute-sdk/{__version__}"
# The official clients send this content type on every call, invoke included.
JSON = "application/json"

Params = Mapping[str, str] | Sequence[tuple[str, str]] | None


def normalize_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint


class Transport:
    def __init__(
        self,
        endpoint: str,
        access_key_id: str | None,
        access_key_secret: str | None,
        timeout: float,
        security_token: str | None = None,
    ) -> None:
        self.endpoint = normalize_endpoint(endpoint)
        if bool(access_key_id) != bool(access_key_secret):
            raise ValueError("give both access_key_id and access_key_secret, or neither")
        self._key_id = access_key_id or ""
        self._secret = access_key_secret or ""
        self._security_token = security_token
        self.timeout = timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
        )

    @property
    def signs(self) -> bool:
        return bool(self._key_id)

    def url(self, path: str) -> str:
        """``path`` is unescaped and relative to the API version; it is escaped here once."""
        return f"{self.endpoint}/{API_VERSION}{quote(path, safe='/')}"

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        check: bool = True,
        json_default: bool = True,
    ) -> httpx.Response:
        """Sends one signed request; with ``check`` an error status raises FcApiError.

        ``json_default`` sets the JSON content type unless ``headers`` names another.
        """
        all_headers = {"content-type": JSON} if json_default else {}
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        query = None
        if params is not None:
            query = tuple(params.items() if isinstance(params, Mapping) else params)
        request = self._http.build_request(
            method, self.url(path), params=query, content=body, headers=all_headers,
            timeout=self._http.timeout if timeout is None else httpx.Timeout(timeout, connect=10.0),
        )
        self._sign(request)
        try:
            response = self._http.send(request)
        except httpx.ConnectTimeout:
            raise FcConnectionError(self.endpoint, "connecting timed out") from None
        except httpx.TimeoutException:
            waited = timeout if timeout is not None else self.timeout
            raise FcTimeoutError(self.endpoint, f"no answer within {waited:g}s") from None
        except httpx.TransportError as exc:
            raise FcConnectionError(self.endpoint, str(exc) or type(exc).__name__) from None
        if check and response.status_code >= 400:
            raise api_error(response)
        return response

    def get_url(self, url: str) -> bytes:
        """Fetches a presigned URL the platform handed out (code downloads)."""
        try:
            response = self._http.get(url)
        except httpx.TransportError as exc:
            raise FcConnectionError(self.endpoint, str(exc) or type(exc).__name__) from None
        if response.status_code >= 400:
            raise api_error(response)
        return response.content

    def _sign(self, request: httpx.Request) -> None:
        """Adds date and authorization exactly as ``fcompute.api.auth`` verifies them."""
        request.headers["date"] = formatdate(usegmt=True)
        if self._security_token:
            request.headers["x-fc-security-token"] = self._security_token
        if not self.signs:
            return
        # The signature covers the request as it goes out: decoded path, encoded query.
        headers = {k.lower(): v for k, v in request.headers.items()}
        request.headers["authorization"] = auth.authorization(
            self._key_id, self._secret, request.method, request.url.path,
            request.url.query.decode("ascii"), headers,
        )

    def close(self) -> None:
        self._http.close()


def api_error(response: httpx.Response) -> FcApiError:
    request_id = response.headers.get("x-fc-request-id", "")
    data: Any
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("ErrorCode"):
        return FcApiError(response.status_code, str(data["ErrorCode"]),
                          str(data.get("ErrorMessage", "")), request_id)
    # Not an FC error body (a proxy in front, a crash): keep the start of the text.
    text = response.text.strip()[:300] or response.reason_phrase
    return FcApiError(response.status_code, f"HTTP{response.status_code}", text, request_id)
