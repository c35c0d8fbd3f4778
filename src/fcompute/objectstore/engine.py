"""Buckets and objects on local disk, with the guarantees both front doors promise.

Layout under the store's root::

    tmp/                                staging: every new file is written here first
    buckets/<bucket>/bucket.json        the bucket's creation time
    buckets/<bucket>/objects/<hh>/<h>   one object file per key (h = sha256 of the key)
    buckets/<bucket>/uploads/<id>/      a multipart upload: upload.json and <n>.part files

Guarantees:

- A write is answered only once the object is on disk: the file is fsynced, renamed into
  place and its directory fsynced (``files.commit``).
- Readers see the old object or the new one, never a mix: an object is one file, replaced
  by one rename; a reader keeps the file it opened.
- A crash mid-write leaves only a file in ``tmp/``, which ``open`` removes.
- Object data streams: a write holds one chunk in memory at a time, a read one range.

The key index (sorted, per bucket) lives in memory, rebuilt at ``open`` from the object
files' own descriptions, so listing never touches the disk. One process owns a store's
directory. Blocking file work runs in worker threads; the index changes on the event loop.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import logging
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from fcompute.durability import fsync_dir
from fcompute.objectstore import errors
from fcompute.objectstore.events import ObjectEvent
from fcompute.objectstore.files import (
    CHUNK,
    CorruptObject,
    Digests,
    ObjectWriter,
    commit,
    read_description,
    read_range,
    remove,
)

log = logging.getLogger(__name__)

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # fullmatch
MAX_KEY_BYTES = 1024
MAX_PARTS = 10_000
# Checks a body's digests before it becomes visible; raises a StorageError to refuse it.
Verify = Callable[[Digests], None]
Listener = Callable[[ObjectEvent], Awaitable[None]]


def check_bucket_name(name: str) -> str:
    if not BUCKET_NAME.fullmatch(name) or ".." in name:
        raise errors.InvalidBucketName(
            f"bucket name {name!r} is invalid: 3-63 lowercase letters, digits, '-' or '.', "
            "starting and ending with a letter or digit", BucketName=name[:100])
    return name


def check_key(key: str) -> str:
    size = len(key.encode("utf-8", "surrogatepass"))
    if not key or size > MAX_KEY_BYTES or "\x00" in key:
        raise errors.InvalidObjectName(
            f"object keys are 1 to {MAX_KEY_BYTES} bytes of UTF-8 without NUL; this one is "
            f"{size} bytes", Key=key[:100])
    return key


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # lowercase hex MD5, or "<hex>-<parts>" for a multipart object
    last_modified: float  # seconds since the epoch
    content_type: str
    metadata: dict[str, str]  # user metadata, names lowercased without their prefix
    headers: dict[str, str]  # stored standard headers: cache-control, content-encoding, ...
    crc64: int  # CRC-64/XZ of the whole object (OSS's x-oss-hash-crc64ecma)
    checksums: dict[str, str]  # S3 checksums the client sent, e.g. {"crc32": "<base64>"}
    parts: int = 0  # 0: uploaded in one piece

    @property
    def multipart(self) -> bool:
        return self.parts > 0

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "etag": self.etag,
                "lastModified": self.last_modified, "contentType": self.content_type,
                "metadata": self.metadata, "headers": self.headers, "crc64": self.crc64,
                "checksums": self.checksums, "parts": self.parts}

    @classmethod
    def described(cls, bucket: str, data: dict[str, Any]) -> ObjectInfo:
        return cls(bucket=bucket, key=str(data["key"]), size=int(data["size"]),
                   etag=str(data["etag"]), last_modified=float(data["lastModified"]),
                   content_type=str(data.get("contentType", "")),
                   metadata=dict(data.get("metadata") or {}),
                   headers=dict(data.get("headers") or {}), crc64=int(data.get("crc64", 0)),
                   checksums=dict(data.get("checksums") or {}),
                   parts=int(data.get("parts", 0)))


@dataclass(frozen=True)
class NewObject:
    """What a writer says about an object besides its bytes.

    ``checksums`` is read only once the body is in and ``verify`` has passed, so a front
    door may fill it from what arrives after the body (aws-chunked trailers).
    """

    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BucketInfo:
    name: str
    created: float


@dataclass(frozen=True)
class Listing:
    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_marker: str  # the last key or common prefix of this page ("" when not truncated)


@dataclass(frozen=True)
class PartInfo:
    number: int
    etag: str
    size: int
    last_modified: float
    crc64: int
    checksums: dict[str, str]


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    new: NewObject


@dataclass
class UploadListing:
    uploads: list[Upload]
    prefixes: list[str]
    truncated: bool
    # Where the next page starts: the last key (or common prefix) and upload id of this one.
    next_key: str
    next_upload_id: str


@dataclass
class _Bucket:
    name: str
    created: float
    objects: dict[str, ObjectInfo] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted

    def put(self, info: ObjectInfo) -> None:
        if info.key not in self.objects:
            bisect.insort(self.keys, info.key)
        self.objects[info.key] = info

    def drop(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, key)]


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ObjectReader:
    """An open object: its description and its bytes, by range, off the event loop."""

    def __init__(self, info: ObjectInfo, file: BinaryIO) -> None:
        self.info = info
        self._file = file

    async def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes from ``start`` up to ``end`` (exclusive; default: the end), then closes."""
        stop = self.info.size if end is None else end
        position = start
        try:
            while position < stop:
                data = await asyncio.to_thread(read_range, self._file, position, stop)
                if not data:
                    raise errors.StorageError("the object file ended early", status=500,
                                              code="InternalError")
                position += len(data)
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._buckets_dir = root / "buckets"
        self._buckets: dict[str, _Bucket] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener`` is awaited after each object change, before the write is answered:
        a listener that stores the event durably makes every acknowledged write's event
        durable."""
        self._listeners.append(listener)

    # start-up --------------------------------------------------------------

    async def open(self) -> None:
        self._buckets = await asyncio.to_thread(self._load)

    def _load(self) -> dict[str, _Bucket]:
        # Leftovers of writes a crash interrupted: never visible, removed now.
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True)
        self._buckets_dir.mkdir(parents=True, exist_ok=True)
        buckets: dict[str, _Bucket] = {}
        for directory in sorted(self._buckets_dir.iterdir()):
            marker = directory / "bucket.json"
            if not marker.exists():
                continue
            created = float(json.loads(marker.read_text())["created"])
            bucket = buckets[directory.name] = _Bucket(directory.name, created)
            for path in (directory / "objects").glob("*/*"):
                try:
                    with open(path, "rb") as file:
                        description, _ = read_description(file)
                except (OSError, CorruptObject, ValueError) as exc:
                    log.warning("object file %s is unreadable (%s); skipped", path, exc)
                    continue
                info = ObjectInfo.described(bucket.name, description)
                bucket.objects[info.key] = info
            bucket.keys = sorted(bucket.objects)
        return buckets

    # buckets ---------------------------------------------------------------

    def _bucket(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise errors.NoSuchBucket(f"bucket {name!r} does not exist", BucketName=name)
        return bucket

    def _dir(self, bucket: str) -> Path:
        return self._buckets_dir / bucket

    async def create_bucket(self, name: str) -> BucketInfo:
        check_bucket_name(name)
        if name in self._buckets:
            raise errors.BucketAlreadyExists(f"bucket {name!r} already exists",
                                             BucketName=name)
        created = time.time()
        self._buckets[name] = _Bucket(name, created)  # claimed before the disk work
        try:
            await asyncio.to_thread(self._write_bucket, name, created)
        except BaseException:
            del self._buckets[name]
            raise
        return BucketInfo(name, created)

    def _write_bucket(self, name: str, created: float) -> None:
        directory = self._dir(name)
        (directory / "objects").mkdir(parents=True, exist_ok=True)
        staged = self._tmp / f"bucket-{uuid.uuid4().hex}"
        staged.write_text(json.dumps({"created": created}))
        commit(staged, directory / "bucket.json")
        fsync_dir(self._buckets_dir)

    def buckets(self) -> list[BucketInfo]:
        return [BucketInfo(b.name, b.created) for _, b in sorted(self._buckets.items())]

    def has_bucket(self, name: str) -> bool:
        return name in self._buckets

    def bucket(self, name: str) -> BucketInfo:
        bucket = self._bucket(name)
        return BucketInfo(bucket.name, bucket.created)

    async def delete_bucket(self, name: str) -> None:
        bucket = self._bucket(name)
        if bucket.objects:
            raise errors.BucketNotEmpty(
                f"bucket {name!r} still holds {len(bucket.objects)} object(s); delete them "
                "first", BucketName=name)
        pending = (await self.list_uploads(name, max_uploads=1)).uploads
        if pending:
            raise errors.BucketNotEmpty(
                f"bucket {name!r} has multipart uploads in progress (one of {pending[0].key!r}); "
                "complete or abort them first", BucketName=name)
        del self._buckets[name]
        await asyncio.to_thread(self._remove_bucket, name)

    def _remove_bucket(self, name: str) -> None:
        directory = self._dir(name)
        (directory / "bucket.json").unlink(missing_ok=True)  # gone from here on
        fsync_dir(directory)
        shutil.rmtree(directory, ignore_errors=True)

    # objects ---------------------------------------------------------------

    def _path(self, bucket: str, key: str) -> Path:
        digest = _key_hash(key)
        return self._dir(bucket) / "objects" / digest[:2] / digest

    def _lock(self, bucket: str, key: str) -> asyncio.Lock:
        lock = self._locks.get((bucket, key))
        if lock is None:
            lock = self._locks[(bucket, key)] = asyncio.Lock()
        return lock

    async def _receive(self, body: AsyncIterator[bytes], want_sha256: bool,
                       verify: Verify | None) -> ObjectWriter:
        """Writes ``body`` to a staging file; the caller finishes or aborts the writer.

        A pipeline: while the event loop gathers the next megabyte from the client, one
        worker thread writes the previous one (and its CRCs) and another hashes it (MD5,
        the slowest step), so an upload takes as long as its slowest stage rather than
        the sum of them.
        """
        writer = await asyncio.to_thread(
            ObjectWriter, self._tmp / uuid.uuid4().hex, want_sha256=want_sha256)
        in_flight: list[asyncio.Future[None]] = []

        async def settle() -> None:
            outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
            in_flight.clear()
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

        def hand_over(data: bytes) -> None:
            in_flight.append(asyncio.ensure_future(asyncio.to_thread(writer.store, data)))
            in_flight.append(asyncio.ensure_future(asyncio.to_thread(writer.hash, data)))

        try:
            pending: list[bytes] = []
            held = 0
            async for chunk in body:
                pending.append(chunk)
                held += len(chunk)
                if held >= CHUNK:
                    await settle()  # each stage sees the megabytes in order
                    hand_over(b"".join(pending))
                    pending, held = [], 0
            await settle()
            if pending:
                hand_over(b"".join(pending))
                await settle()
            if verify is not None:
                verify(writer.digests())
        except BaseException:
            # Threads cannot be stopped: let them end before the file goes.
            await asyncio.gather(*in_flight, return_exceptions=True)
            await asyncio.to_thread(writer.abort)
            raise
        return writer

    async def put_object(
        self, bucket: str, key: str, body: AsyncIterator[bytes], new: NewObject, *,
        verify: Verify | None = None, want_sha256: bool = False,
        event: str = "ObjectCreated:PutObject", source_ip: str = "", request_id: str = "",
        actor: str = "",
    ) -> ObjectInfo:
        self._bucket(bucket)
        check_key(key)
        writer = await self._receive(body, want_sha256, verify)
        digests = writer.digests()
        info = ObjectInfo(bucket=bucket, key=key, size=digests.size, etag=digests.md5.hex(),
                          last_modified=time.time(), content_type=new.content_type,
                          metadata=dict(new.metadata), headers=dict(new.headers),
                          crc64=digests.crc64, checksums=dict(new.checksums))
        return await self._install(writer, info, event, source_ip, request_id, actor)

    async def _install(self, writer: ObjectWriter, info: ObjectInfo, event: str,
                       source_ip: str, request_id: str, actor: str = "") -> ObjectInfo:
        try:
            await asyncio.to_thread(writer.finish, info.describe())
            async with self._lock(info.bucket, info.key):
                bucket = self._bucket(info.bucket)  # it may have gone meanwhile
                previous = bucket.objects.get(info.key)
                await asyncio.to_thread(commit, writer.tmp_path,
                                        self._path(info.bucket, info.key))
                bucket.put(info)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        await self._announce(ObjectEvent(
            name=event, bucket=info.bucket, key=info.key, size=info.size, etag=info.etag,
            delta_size=info.size - (previous.size if previous else 0),
            content_type=info.content_type, metadata=info.metadata, time=info.last_modified,
            source_ip=source_ip, request_id=request_id, actor=actor))
        return info

    async def _announce(self, event: ObjectEvent) -> None:
        for listener in self._listeners:
            await listener(event)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        info = self._bucket(bucket).objects.get(key)
        if info is None:
            raise errors.NoSuchKey(f"object {key!r} does not exist in bucket {bucket!r}",
                                   Key=key, BucketName=bucket)
        return info

    async def open_object(self, bucket: str, key: str) -> ObjectReader:
        """The object as it is now; it stays readable even if replaced or deleted."""
        self.head_object(bucket, key)
        try:
            return await asyncio.to_thread(self._open, bucket, key)
        except FileNotFoundError:
            raise errors.NoSuchKey(f"object {key!r} does not exist in bucket {bucket!r}",
                                   Key=key, BucketName=bucket) from None

    def _open(self, bucket: str, key: str) -> ObjectReader:
        file = open(self._path(bucket, key), "rb")  # noqa: SIM115 - the reader closes it
        try:
            description, _ = read_description(file)
        except BaseException:
            file.close()
            raise
        return ObjectReader(ObjectInfo.described(bucket, description), file)

    async def delete_object(self, bucket: str, key: str, *,
                            event: str = "ObjectRemoved:DeleteObject", source_ip: str = "",
                            request_id: str = "", actor: str = "") -> bool:
        """Deletes the object; False if there was none (not an error, as in S3 and OSS)."""
        target = self._bucket(bucket)
        async with self._lock(bucket, key):
            previous = target.objects.get(key)
            if previous is None:
                return False
            await asyncio.to_thread(remove, self._path(bucket, key))
            target.drop(key)
        await self._announce(ObjectEvent(
            name=event, bucket=bucket, key=key, size=0, etag=previous.etag,
            delta_size=-previous.size, content_type=previous.content_type,
            metadata=previous.metadata, time=time.time(), source_ip=source_ip,
            request_id=request_id, actor=actor))
        return True

    async def copy_object(
        self, source_bucket: str, source_key: str, bucket: str, key: str,
        new: NewObject | None, *, source_ip: str = "", request_id: str = "", actor: str = "",
    ) -> ObjectInfo:
        """Copies an object; ``new`` replaces its description (None keeps the source's)."""
        self._bucket(bucket)
        check_key(key)
        reader = await self.open_object(source_bucket, source_key)
        source = reader.info
        writer = await self._receive(reader.chunks(), False, None)
        kept = NewObject(source.content_type, source.metadata, source.headers,
                         source.checksums)
        chosen = new or kept
        info = replace(source, bucket=bucket, key=key, last_modified=time.time(),
                       content_type=chosen.content_type, metadata=dict(chosen.metadata),
                       headers=dict(chosen.headers), checksums=dict(chosen.checksums))
        return await self._install(writer, info, "ObjectCreated:CopyObject", source_ip,
                                   request_id, actor)

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                     start_after: str = "", max_keys: int = 1000) -> Listing:
        """Keys after ``start_after`` starting with ``prefix``, in order; with a delimiter,
        the keys that have one after the prefix are rolled up into common prefixes."""
        target = self._bucket(bucket)
        keys = target.keys
        index = bisect.bisect_left(keys, prefix)
        if start_after:
            index = max(index, bisect.bisect_right(keys, start_after))
            if delimiter and start_after.endswith(delimiter) and start_after.startswith(prefix):
                # A marker that is a common prefix handed out before: skip what it rolled up.
                index = max(index, bisect.bisect_left(keys, start_after + "\U0010ffff"))
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last = ""
        while index < len(keys) and keys[index].startswith(prefix):
            if len(objects) + len(prefixes) >= max_keys:
                return Listing(objects, prefixes, True, last)
            key = keys[index]
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[:cut + len(delimiter)]
                prefixes.append(common)
                last = common
                index = bisect.bisect_left(keys, common + "\U0010ffff", index)
                continue
            objects.append(target.objects[key])
            last = key
            index += 1
        return Listing(objects, prefixes, False, "")

    # multipart ---------------------------------------------------------------

    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self._dir(bucket) / "uploads" / upload_id

    async def initiate_upload(self, bucket: str, key: str, new: NewObject) -> Upload:
        self._bucket(bucket)
        check_key(key)
        upload = Upload(bucket, key, uuid.uuid4().hex.upper(), time.time(), new)
        await asyncio.to_thread(self._write_upload, upload)
        return upload

    def _write_upload(self, upload: Upload) -> None:
        directory = self._upload_dir(upload.bucket, upload.upload_id)
        directory.mkdir(parents=True)
        staged = self._tmp / f"upload-{uuid.uuid4().hex}"
        new = upload.new
        staged.write_text(json.dumps({
            "key": upload.key, "initiated": upload.initiated, "contentType": new.content_type,
            "metadata": new.metadata, "headers": new.headers, "checksums": new.checksums}))
        commit(staged, directory / "upload.json")

    async def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        self._bucket(bucket)
        return await asyncio.to_thread(self._read_upload, bucket, key, upload_id)

    def _read_upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        missing = errors.NoSuchUpload(
            f"multipart upload {upload_id!r} of {key!r} does not exist (completed, aborted "
            "or never started)", UploadId=upload_id)
        if not re.fullmatch(r"[0-9A-F]{32}", upload_id):
            raise missing
        try:
            data = json.loads((self._upload_dir(bucket, upload_id) / "upload.json").read_text())
        except FileNotFoundError:
            raise missing from None
        if data["key"] != key:
            raise missing
        return Upload(bucket, key, upload_id, float(data["initiated"]), NewObject(
            str(data["contentType"]), dict(data["metadata"]), dict(data["headers"]),
            dict(data.get("checksums") or {})))

    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                          body: AsyncIterator[bytes], *, verify: Verify | None = None,
                          want_sha256: bool = False,
                          checksums: dict[str, str] | None = None) -> PartInfo:
        if not 1 <= number <= MAX_PARTS:
            raise errors.StorageError(f"partNumber must be from 1 to {MAX_PARTS}",
                                      code="InvalidArgument")
        upload = await self.upload(bucket, key, upload_id)
        writer = await self._receive(body, want_sha256, verify)
        digests = writer.digests()
        part = PartInfo(number, digests.md5.hex(), digests.size, time.time(), digests.crc64,
                        dict(checksums or {}))
        try:
            await asyncio.to_thread(writer.finish, {
                "number": number, "etag": part.etag, "size": part.size,
                "lastModified": part.last_modified, "crc64": part.crc64,
                "checksums": part.checksums})
            await asyncio.to_thread(
                commit, writer.tmp_path,
                self._upload_dir(upload.bucket, upload_id) / f"{number}.part")
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return part

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        await self.upload(bucket, key, upload_id)
        return await asyncio.to_thread(self._parts, bucket, upload_id)

    def _parts(self, bucket: str, upload_id: str) -> list[PartInfo]:
        parts = []
        for path in self._upload_dir(bucket, upload_id).glob("*.part"):
            try:
                with open(path, "rb") as file:
                    data, _ = read_description(file)
            except (OSError, CorruptObject, ValueError):
                continue
            parts.append(PartInfo(int(data["number"]), str(data["etag"]), int(data["size"]),
                                  float(data["lastModified"]), int(data["crc64"]),
                                  dict(data.get("checksums") or {})))
        return sorted(parts, key=lambda p: p.number)

    async def complete_upload(self, bucket: str, key: str, upload_id: str,
                              chosen: list[tuple[int, str]], *, source_ip: str = "",
                              request_id: str = "", actor: str = "") -> ObjectInfo:
        """Joins the chosen parts (number, ETag) in order into the object."""
        upload = await self.upload(bucket, key, upload_id)
        if not chosen:
            raise errors.StorageError("a multipart upload is completed with at least one part",
                                      code="MalformedXML")
        numbers = [number for number, _ in chosen]
        if numbers != sorted(set(numbers)):
            raise errors.InvalidPartOrder("parts must be listed in ascending order, each once")
        stored = {part.number: part for part in await asyncio.to_thread(
            self._parts, bucket, upload_id)}
        parts = []
        for number, etag in chosen:
            part = stored.get(number)
            if part is None or part.etag != etag.strip('"').lower():
                raise errors.InvalidPart(
                    f"part {number} with ETag {etag} was not uploaded (or was uploaded again "
                    "with other content)", PartNumber=str(number))
            parts.append(part)
        # The object's MD5 is never used (a multipart ETag is made of the parts' MD5s).
        writer = await asyncio.to_thread(ObjectWriter, self._tmp / uuid.uuid4().hex,
                                         want_md5=False)
        try:
            await asyncio.to_thread(self._join, writer, bucket, upload_id, parts)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        digests = writer.digests()
        joined = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
        new = upload.new
        info = ObjectInfo(bucket=bucket, key=key, size=digests.size,
                          etag=f"{joined}-{len(parts)}", last_modified=time.time(),
                          content_type=new.content_type, metadata=dict(new.metadata),
                          headers=dict(new.headers), crc64=digests.crc64,
                          checksums={}, parts=len(parts))
        info = await self._install(writer, info, "ObjectCreated:CompleteMultipartUpload",
                                   source_ip, request_id, actor)
        await asyncio.to_thread(shutil.rmtree, self._upload_dir(bucket, upload_id), True)
        return info

    def _join(self, writer: ObjectWriter, bucket: str, upload_id: str,
              parts: list[PartInfo]) -> None:
        directory = self._upload_dir(bucket, upload_id)
        for part in parts:
            with open(directory / f"{part.number}.part", "rb") as file:
                position = 0
                while position < part.size:
                    data = read_range(file, position, part.size)
                    writer.store(data)
                    position += len(data)

    async def list_uploads(self, bucket: str, *, prefix: str = "", delimiter: str = "",
                           key_marker: str = "", upload_id_marker: str = "",
                           max_uploads: int = 1000) -> UploadListing:
        """Uploads in progress, by key then upload id, as S3 and OSS page them: after
        ``key_marker`` (and ``upload_id_marker`` within that key; without it, the marker's
        own uploads are past); with a delimiter, the keys that have one after the prefix
        roll up into common prefixes, each counting as one entry."""
        self._bucket(bucket)
        id_marker = upload_id_marker if key_marker else ""
        after = (key_marker, id_marker or "\U0010ffff")
        skipped = key_marker if delimiter and key_marker.endswith(delimiter) else None
        listing = UploadListing([], [], False, "", "")
        for upload in await asyncio.to_thread(self._uploads, bucket):
            if not upload.key.startswith(prefix) or (upload.key, upload.upload_id) <= after:
                continue
            if skipped is not None and upload.key.startswith(skipped):
                continue  # a marker that is a common prefix handed out before
            cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
            common = upload.key[:cut + len(delimiter)] if cut >= 0 else ""
            if common and listing.prefixes and listing.prefixes[-1] == common:
                continue
            if len(listing.uploads) + len(listing.prefixes) >= max_uploads:
                listing.truncated = True
                break
            if common:
                listing.prefixes.append(common)
                listing.next_key, listing.next_upload_id = common, ""
            else:
                listing.uploads.append(upload)
                listing.next_key, listing.next_upload_id = upload.key, upload.upload_id
        return listing

    def _uploads(self, bucket: str) -> list[Upload]:
        found = []
        for marker in (self._dir(bucket) / "uploads").glob("*/upload.json"):
            try:
                key = str(json.loads(marker.read_text())["key"])
                found.append(self._read_upload(bucket, key, marker.parent.name))
            except (OSError, ValueError, KeyError, errors.NoSuchUpload):
                continue
        return sorted(found, key=lambda u: (u.key, u.upload_id))

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self.upload(bucket, key, upload_id)
        await asyncio.to_thread(shutil.rmtree, self._upload_dir(bucket, upload_id), True)
