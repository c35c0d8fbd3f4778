"""Whole-file transfers over the storage client's single requests.

Uploads: one PUT up to the multipart threshold, else a multipart upload whose parts go
``concurrency`` at a time, so that the store writes (and fsyncs) one part while the next is
on the wire. Memory holds at most the threshold plus ``concurrency`` parts, whatever the
file's size, so a pipe of unknown length uploads too. A failed multipart upload is aborted.
Every part's ETag is checked against its MD5, and the object's against the parts'.

Downloads stream into a temporary file beside the destination, renamed over it once the
length (and, for a single-part object, the MD5) matches what the store said.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from fcompute.sdk.errors import FcConnectionError
from fcompute.sdk.storage_models import ObjectInfo, StorageApiError, Uploaded

if TYPE_CHECKING:
    from fcompute.sdk.storage import StorageClient

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 8 * MiB  # as the AWS CLI: one PUT up to here, parts above
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 4
MIN_PART_SIZE = 5 * MiB  # S3's smallest part but the last
MAX_PARTS = 10_000

Progress = Callable[[int], None]  # called with the bytes just transferred, as boto3's Callback


@dataclass(frozen=True)
class UploadOptions:
    content_type: str | None = None  # None: guessed from the key's extension
    metadata: dict[str, str] = field(default_factory=dict)
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY

    def check(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE // MiB} MiB")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


def upload(client: StorageClient, source: str | os.PathLike[str] | BinaryIO, bucket: str,
           key: str, options: UploadOptions, progress: Progress | None) -> Uploaded:
    options.check()
    content_type = (options.content_type or mimetypes.guess_type(key)[0]
                    or "application/octet-stream")
    if not isinstance(source, str | os.PathLike):
        return _upload_stream(client, source, bucket, key, content_type, options, progress,
                              options.part_size)
    with open(source, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        # Parts grow when 10,000 of them would not hold the file, as S3 allows no more.
        part_size = max(options.part_size, -(-size // MAX_PARTS))
        return _upload_stream(client, stream, bucket, key, content_type, options, progress,
                              part_size)


def _upload_stream(client: StorageClient, stream: BinaryIO, bucket: str, key: str,
                   content_type: str, options: UploadOptions, progress: Progress | None,
                   part_size: int) -> Uploaded:
    head = read_up_to(stream, options.multipart_threshold + 1)
    if len(head) <= options.multipart_threshold:
        etag = client.put_object(bucket, key, head, content_type=content_type,
                                 metadata=options.metadata, progress=progress)
        return Uploaded(bucket, key, len(head), etag, 0)
    upload_id = client.create_multipart_upload(bucket, key, content_type=content_type,
                                               metadata=options.metadata)
    try:
        parts, size = _send_parts(client, bucket, key, upload_id, parts_of(head, stream,
                                                                           part_size),
                                  options.concurrency, _locked(progress))
        etag = client.complete_multipart_upload(bucket, key, upload_id, parts)
    except BaseException:
        # Best effort: the parts already stored go, whatever made the upload fail.
        with contextlib.suppress(StorageApiError, FcConnectionError):
            client.abort_multipart_upload(bucket, key, upload_id)
        raise
    # Each part's ETag was checked against its MD5: the object's is the MD5 of those MD5s.
    joined = b"".join(bytes.fromhex(part_etag) for _, part_etag in parts)
    expected = f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"
    if etag != expected:
        raise StorageApiError(200, "BadDigest", f"the store answered ETag {etag} for {key}, "
                                                f"expected {expected}")
    return Uploaded(bucket, key, size, etag, len(parts))


def _send_parts(client: StorageClient, bucket: str, key: str, upload_id: str,
                parts: Iterator[bytes], concurrency: int,
                progress: Progress | None) -> tuple[list[tuple[int, str]], int]:
    """Uploads the parts in order, ``concurrency`` in flight; their numbers and ETags."""
    done: list[tuple[int, str]] = []
    size = 0
    in_flight: deque[tuple[int, Future[str]]] = deque()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="fcompute-upload") as pool:
        try:
            for number, data in enumerate(parts, start=1):
                if len(in_flight) >= concurrency:
                    waited, future = in_flight.popleft()
                    done.append((waited, future.result()))
                in_flight.append((number, pool.submit(
                    client.upload_part, bucket, key, upload_id, number, data, progress)))
                size += len(data)
            while in_flight:
                waited, future = in_flight.popleft()
                done.append((waited, future.result()))
        finally:
            for _, future in in_flight:  # a failure: parts not started never start
                future.cancel()
    return done, size


def _locked(progress: Progress | None) -> Progress | None:
    """Parts report from several threads; the callback sees one call at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(transferred: int) -> None:
        with lock:
            progress(transferred)

    return report


def download(client: StorageClient, bucket: str, key: str,
             destination: str | os.PathLike[str] | BinaryIO,
             progress: Progress | None) -> ObjectInfo:
    if not isinstance(destination, str | os.PathLike):
        return _download_into(client, bucket, key, destination, progress)
    target = Path(destination)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            info = _download_into(client, bucket, key, sink, progress)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return info


def _download_into(client: StorageClient, bucket: str, key: str, sink: BinaryIO,
                   progress: Progress | None) -> ObjectInfo:
    digest = hashlib.md5()
    received = 0
    with client.open_object(bucket, key) as (info, chunks):
        for chunk in chunks:
            sink.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            if progress is not None:
                progress(len(chunk))
    if info.size >= 0 and received != info.size:
        raise FcConnectionError(client.endpoint, f"{key}: got {received} of {info.size} bytes")
    if not info.multipart and info.etag and digest.hexdigest() != info.etag:
        raise StorageApiError(200, "BadDigest", f"{key}: the data's MD5 {digest.hexdigest()} "
                                                f"is not its ETag {info.etag}")
    return info


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end: pipes answer reads in smaller pieces."""
    pieces: list[bytes] = []
    wanted = size
    while wanted > 0:
        piece = stream.read(wanted)
        if not piece:
            break
        pieces.append(piece)
        wanted -= len(piece)
    return b"".join(pieces)


def parts_of(head: bytes, stream: BinaryIO, part_size: int) -> Iterator[bytes]:
    """The parts of a multipart upload: what was read already, then the rest of the stream,
    each read only when the previous one has been handed on."""
    buffer = head
    while True:
        while len(buffer) >= part_size:
            yield buffer[:part_size]
            buffer = buffer[part_size:]
        more = read_up_to(stream, part_size)
        if not more:
            break
        buffer += more
    if buffer:
        yield buffer
