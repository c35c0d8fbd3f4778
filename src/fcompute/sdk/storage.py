"""A client for the platform's object store through its S3 API (any S3-compatible store works).

    with StorageClient("http://127.0.0.1:9001") as store:
        store.create_bucket("uploads")
        store.upload_file("cat.jpg", "uploads", "cats/cat.jpg")   # multipart when large
        for summary in store.iter_objects("uploads", prefix="cats/"):
            print(summary.key, summary.size)
        store.download_file("uploads", "cats/cat.jpg", "copy.jpg")

Requests are signed with SigV4 (``fcompute.sdk.sigv4``) when keys are given, path-style
(``/bucket/key``). Uploads send ``Content-MD5`` and check the ETags the store answers;
downloads check a single-part object's MD5 and every object's length, and appear at their
destination only once complete.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx

from fcompute import __version__
from fcompute.sdk import sigv4, transfers
from fcompute.sdk.errors import FcConnectionError, FcTimeoutError
from fcompute.sdk.storage_models import (
    Bucket,
    ObjectInfo,
    ObjectListing,
    ObjectSummary,
    StorageApiError,
    Uploaded,
    complete_upload_xml,
    error_from_xml,
    parse_buckets,
    parse_http_date,
    parse_listing,
    parse_xml,
    text_of,
    unquote_etag,
)
from fcompute.sdk.transfers import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    Progress,
)
from fcompute.sdk.transport import normalize_endpoint

DEFAULT_STORAGE_ENDPOINT = "http://127.0.0.1:9001"
DEFAULT_REGION = "local"
CHUNK = 256 * 1024  # progress is reported per chunk sent or received
USER_AGENT = f"fcompute-sdk/{__version__}"

Query = list[tuple[str, str | None]]


class StorageClient:
    """One object store. Without keys, requests go out unsigned (a store without access keys
    accepts them, as the platform's does on loopback)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_STORAGE_ENDPOINT,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        *,
        security_token: str | None = None,
        region: str = DEFAULT_REGION,
        timeout: float = 60.0,
    ) -> None:
        if bool(access_key_id) != bool(access_key_secret):
            raise ValueError("give both access_key_id and access_key_secret, or neither")
        self.endpoint = normalize_endpoint(endpoint)
        parts = urlsplit(self.endpoint)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path.rstrip("/")  # a store behind a proxy, at /s3 say
        self._key_id = access_key_id or ""
        self._secret = access_key_secret or ""
        self._token = security_token
        self.region = region
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                  headers={"user-agent": USER_AGENT,
                                           # Objects come as stored, never re-encoded.
                                           "accept-encoding": "identity"},
                                  follow_redirects=False)

    # -- buckets ------------------------------------------------------------------------

    def list_buckets(self) -> list[Bucket]:
        return parse_buckets(self._xml("GET", what="ListBuckets"))

    def create_bucket(self, bucket: str) -> None:
        self._send("PUT", bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._send("HEAD", bucket)
        except StorageApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_bucket(self, bucket: str) -> None:
        """Deletes an empty bucket; 409 ``BucketNotEmpty`` otherwise."""
        self._send("DELETE", bucket)

    # -- listing ------------------------------------------------------------------------

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     start_after: str | None = None, max_keys: int | None = None,
                     continuation_token: str | None = None) -> ObjectListing:
        """One page of ListObjectsV2, in key order."""
        query: Query = [("list-type", "2")]
        for name, value in (("prefix", prefix), ("delimiter", delimiter),
                            ("start-after", start_after), ("continuation-token",
                                                           continuation_token),
                            ("max-keys", str(max_keys) if max_keys else None)):
            if value:
                query.append((name, value))
        return parse_listing(self._xml("GET", bucket, query=query, what="ListObjectsV2"))

    def iter_objects(self, bucket: str, *, prefix: str = "") -> Iterator[ObjectSummary]:
        """Every object under ``prefix``, fetching the next page only when one runs out."""
        token: str | None = None
        while True:
            page = self.list_objects(bucket, prefix=prefix, continuation_token=token)
            yield from page.objects
            if not page.next_token:
                return
            token = page.next_token

    # -- objects ------------------------------------------------------------------------

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """The object's description; 404 ``NoSuchKey``, or ``NoSuchBucket`` when the bucket
        is missing (a HEAD answer has no body to say which: the bucket is asked then)."""
        try:
            return _info(bucket, key, self._send("HEAD", bucket, key))
        except StorageApiError as exc:
            if exc.status == 404 and not self.bucket_exists(bucket):
                raise StorageApiError(404, "NoSuchBucket", f"bucket {bucket} does not exist",
                                      exc.request_id, bucket) from None
            raise

    def put_object(self, bucket: str, key: str, body: bytes, *, content_type: str | None = None,
                   metadata: dict[str, str] | None = None,
                   progress: Progress | None = None) -> str:
        """Stores ``body`` in one PUT; returns the ETag (checked against its MD5)."""
        md5 = hashlib.md5(body).digest()
        response = self._send("PUT", bucket, key, body=body, md5=md5, progress=progress,
                              headers=_object_headers(content_type, metadata))
        return _checked_etag(response, md5.hex(), key)

    def get_object(self, bucket: str, key: str) -> bytes:
        """The whole object in memory (its length and MD5 checked): for small objects;
        ``download_file`` and ``open_object`` stream."""
        sink = io.BytesIO()
        self.download_file(bucket, key, sink)
        return sink.getvalue()

    def copy_object(self, source_bucket: str, source_key: str, bucket: str, key: str) -> str:
        """A copy made by the store itself, content type and metadata included; its ETag."""
        source = f"/{source_bucket}/{sigv4.uri_encode(source_key, keep_slash=True)}"
        root = self._xml("PUT", bucket, key, headers={"x-amz-copy-source": source},
                         what="CopyObject")
        return unquote_etag(text_of(root, "ETag"))

    def delete_object(self, bucket: str, key: str) -> None:
        """Deletes the object; as in S3, deleting a key that does not exist succeeds."""
        self._send("DELETE", bucket, key)

    # -- multipart ----------------------------------------------------------------------

    def create_multipart_upload(self, bucket: str, key: str, *, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str:
        root = self._xml("POST", bucket, key, query=[("uploads", None)],
                         headers=_object_headers(content_type, metadata),
                         what="CreateMultipartUpload")
        return text_of(root, "UploadId")

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes,
                    progress: Progress | None = None) -> str:
        """Stores part ``number``; returns its ETag (checked against the part's MD5)."""
        md5 = hashlib.md5(data).digest()
        response = self._send("PUT", bucket, key, body=data, md5=md5, progress=progress,
                              query=[("partNumber", str(number)), ("uploadId", upload_id)])
        return _checked_etag(response, md5.hex(), f"{key} part {number}")

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> str:
        root = self._xml("POST", bucket, key, query=[("uploadId", upload_id)],
                         body=complete_upload_xml(parts), what="CompleteMultipartUpload")
        return unquote_etag(text_of(root, "ETag"))

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._send("DELETE", bucket, key, query=[("uploadId", upload_id)])

    # -- transfers ----------------------------------------------------------------------

    def upload_file(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: Progress | None = None,
    ) -> Uploaded:
        """Uploads a file (or a binary stream such as stdin): one PUT up to
        ``multipart_threshold`` bytes, else a multipart upload of ``part_size`` parts,
        ``concurrency`` of them at a time (see ``fcompute.sdk.transfers``)."""
        return transfers.upload(self, source, bucket, key, transfers.UploadOptions(
            content_type, metadata or {}, multipart_threshold, part_size, concurrency),
            progress)

    def download_file(self, bucket: str, key: str, destination: str | os.PathLike[str] | BinaryIO,
                      *, progress: Progress | None = None) -> ObjectInfo:
        """Streams the object into a file (which appears only once complete and checked)
        or a binary stream such as stdout; returns its description."""
        return transfers.download(self, bucket, key, destination, progress)

    @contextlib.contextmanager
    def open_object(self, bucket: str, key: str) -> Iterator[tuple[ObjectInfo, Iterator[bytes]]]:
        """The object's description and its bytes as they arrive, for as long as the
        ``with`` block lasts: ``with store.open_object(b, k) as (info, chunks): ...``."""
        response = self._send("GET", bucket, key, stream=True)
        try:
            yield _info(bucket, key, response), _guarded(response.iter_raw(CHUNK),
                                                         self.endpoint)
        finally:
            response.close()

    # -- HTTP ---------------------------------------------------------------------------

    def _xml(self, method: str, bucket: str = "", key: str = "", *, what: str,
             query: Query | None = None, body: bytes = b"",
             headers: dict[str, str] | None = None) -> ET.Element:
        response = self._send(method, bucket, key, query=query, body=body, headers=headers)
        root = parse_xml(response.content, what)
        # CompleteMultipartUpload and CopyObject may answer 200 and fail in the body.
        failure = error_from_xml(response.status_code, response.content,
                                 response.headers.get("x-amz-request-id", ""))
        if failure is not None:
            raise failure
        return root

    def _send(self, method: str, bucket: str = "", key: str = "", *,
              query: Query | None = None, body: bytes = b"",
              headers: dict[str, str] | None = None, progress: Progress | None = None,
              stream: bool = False, md5: bytes | None = None) -> httpx.Response:
        url = self._origin + _path(self._base_path, bucket, key)
        if query:
            url += "?" + "&".join(sigv4.uri_encode(name, keep_slash=False) if value is None
                                  else f"{sigv4.uri_encode(name, keep_slash=False)}="
                                       f"{sigv4.uri_encode(value, keep_slash=False)}"
                                  for name, value in query)
        all_headers = dict(headers or {})
        if body:
            digest = md5 or hashlib.md5(body).digest()
            all_headers["content-md5"] = base64.b64encode(digest).decode()
        if method in ("PUT", "POST"):
            all_headers["content-length"] = str(len(body))
        content = _chunks(body, progress) if progress is not None and body else body
        request = self._http.build_request(method, url, headers=all_headers, content=content)
        if self._key_id:
            sigv4.sign(request, access_key_id=self._key_id, secret=self._secret,
                       region=self.region, payload_sha256=hashlib.sha256(body).hexdigest(),
                       security_token=self._token)
        try:
            response = self._http.send(request, stream=stream)
        except httpx.ConnectTimeout:
            raise FcConnectionError(self.endpoint, "connecting timed out") from None
        except httpx.TimeoutException:
            raise FcTimeoutError(self.endpoint, "no answer in time") from None
        except httpx.TransportError as exc:
            raise FcConnectionError(self.endpoint, str(exc) or type(exc).__name__) from None
        if response.status_code >= 300:
            if stream:
                response.read()
                response.close()
            raise _error(response, method, bucket, key)
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StorageClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _path(base: str, bucket: str, key: str) -> str:
    if not bucket:
        return base + "/"
    if not key:
        return f"{base}/{sigv4.uri_encode(bucket, keep_slash=False)}"
    # "." and ".." segments are keys' own: escaped, no HTTP stack folds them away.
    segments = [{".": "%2E", "..": "%2E%2E"}.get(s) or sigv4.uri_encode(s, keep_slash=False)
                for s in key.split("/")]
    return f"{base}/{sigv4.uri_encode(bucket, keep_slash=False)}/{'/'.join(segments)}"


def _object_headers(content_type: str | None, metadata: dict[str, str] | None) -> dict[str, str]:
    headers = {f"x-amz-meta-{name.lower()}": value for name, value in (metadata or {}).items()}
    if content_type:
        headers["content-type"] = content_type
    return headers


def _checked_etag(response: httpx.Response, md5_hex: str, what: str) -> str:
    etag = unquote_etag(response.headers.get("etag", ""))
    if etag != md5_hex:
        raise StorageApiError(response.status_code, "BadDigest",
                              f"the store answered ETag {etag or '(none)'} for {what}, "
                              f"expected the MD5 {md5_hex}",
                              response.headers.get("x-amz-request-id", ""))
    return etag


def _info(bucket: str, key: str, response: httpx.Response) -> ObjectInfo:
    headers = response.headers
    length = headers.get("content-length", "")
    return ObjectInfo(
        bucket, key, int(length) if length.isdigit() else -1,
        unquote_etag(headers.get("etag", "")), parse_http_date(headers.get("last-modified")),
        headers.get("content-type", ""),
        {name[len("x-amz-meta-"):]: value for name, value in headers.items()
         if name.startswith("x-amz-meta-")},
    )


def _error(response: httpx.Response, method: str, bucket: str, key: str) -> StorageApiError:
    request_id = response.headers.get("x-amz-request-id", "")
    parsed = error_from_xml(response.status_code, response.content, request_id)
    if parsed is not None:
        return parsed
    # HEAD answers carry no body: name the error from the status, as S3 clients do.
    status = response.status_code
    resource = f"{bucket}/{key}" if key else bucket
    if status == 404:
        code, message = (("NoSuchKey", f"object {resource} does not exist") if key
                         else ("NoSuchBucket", f"bucket {bucket} does not exist"))
    elif status == 403:
        code, message = "AccessDenied", f"access to {resource or 'the store'} denied"
    else:
        text = response.text.strip()[:300] if method != "HEAD" else ""
        code, message = f"HTTP{status}", text or response.reason_phrase
    return StorageApiError(status, code, message, request_id, resource)


def _chunks(body: bytes, progress: Progress) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), CHUNK):
        chunk = bytes(view[start:start + CHUNK])
        yield chunk
        progress(len(chunk))


def _guarded(chunks: Iterator[bytes], endpoint: str) -> Iterator[bytes]:
    """A download's chunks, a dropped connection mid-body as an SDK error."""
    try:
        yield from chunks
    except httpx.TransportError as exc:
        raise FcConnectionError(endpoint, str(exc) or type(exc).__name__) from None
