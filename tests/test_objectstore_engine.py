"""The object store's engine on a real directory: durability, atomic replacement,
listing, multipart and recovery. The S3 and OSS front doors have their own tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from fastcrc import crc64

from fcompute.objectstore import errors
from fcompute.objectstore.engine import NewObject, ObjectStore
from fcompute.objectstore.events import ObjectEvent


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_all(store: ObjectStore, bucket: str, key: str, start: int = 0,
                   end: int | None = None) -> bytes:
    reader = await store.open_object(bucket, key)
    return b"".join([c async for c in reader.chunks(start, end)])


def run(tmp_path: Path, scenario: Callable[[ObjectStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = ObjectStore(tmp_path / "storage")
        await store.open()
        await scenario(store)

    asyncio.run(main())


def test_put_get_overwrite_delete_and_what_events_say(tmp_path: Path) -> None:
    seen: list[ObjectEvent] = []

    async def scenario(store: ObjectStore) -> None:
        async def listen(event: ObjectEvent) -> None:
            seen.append(event)

        store.subscribe(listen)
        await store.create_bucket("pics")
        with pytest.raises(errors.BucketAlreadyExists):
            await store.create_bucket("pics")
        data = b"x" * 3_000_000  # several chunks
        info = await store.put_object("pics", "a/b.jpg", body(data[:10], data[10:]),
                                      NewObject("image/jpeg", {"who": "me"}))
        assert (info.size, info.etag) == (len(data), hashlib.md5(data).hexdigest())
        assert info.crc64 == crc64.xz(data)
        assert await read_all(store, "pics", "a/b.jpg") == data
        assert await read_all(store, "pics", "a/b.jpg", 5, 15) == data[5:15]
        # A reader that opened the old object keeps it while a new one replaces it.
        old = await store.open_object("pics", "a/b.jpg")
        await store.put_object("pics", "a/b.jpg", body(b"new"), NewObject())
        assert b"".join([c async for c in old.chunks(0, 4)]) == b"xxxx"
        assert await read_all(store, "pics", "a/b.jpg") == b"new"
        with pytest.raises(errors.BucketNotEmpty):
            await store.delete_bucket("pics")
        assert await store.delete_object("pics", "a/b.jpg")
        assert not await store.delete_object("pics", "a/b.jpg")
        with pytest.raises(errors.NoSuchKey):
            await store.open_object("pics", "a/b.jpg")
        await store.delete_bucket("pics")
        with pytest.raises(errors.NoSuchBucket):
            store.bucket("pics")

    run(tmp_path, scenario)
    assert [(e.name, e.size, e.delta_size) for e in seen] == [
        ("ObjectCreated:PutObject", 3_000_000, 3_000_000),
        ("ObjectCreated:PutObject", 3, 3 - 3_000_000),
        ("ObjectRemoved:DeleteObject", 0, -3)]
    assert seen[0].metadata == {"who": "me"}


def test_a_refused_or_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        await store.create_bucket("bk1")
        await store.put_object("bk1", "k", body(b"old"), NewObject())

        def refuse(_digests: object) -> None:
            raise errors.BadDigest("no")

        with pytest.raises(errors.BadDigest):
            await store.put_object("bk1", "k", body(b"new"), NewObject(), verify=refuse)

        async def breaks() -> AsyncIterator[bytes]:
            yield b"half"
            raise ConnectionError("client went away")

        with pytest.raises(ConnectionError):
            await store.put_object("bk1", "k", breaks(), NewObject())
        assert await read_all(store, "bk1", "k") == b"old"
        assert list((store.root / "tmp").iterdir()) == []
        (store.root / "tmp" / "crashed-upload").write_bytes(b"partial")

    run(tmp_path, scenario)

    async def reopened(store: ObjectStore) -> None:
        assert list((store.root / "tmp").iterdir()) == []  # cleaned at start
        assert await read_all(store, "bk1", "k") == b"old"  # the index came back from disk

    run(tmp_path, reopened)


def test_listing_with_prefix_delimiter_and_pages(tmp_path: Path) -> None:
    keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "dz", "e/4", "e/5", "f"]

    async def scenario(store: ObjectStore) -> None:
        await store.create_bucket("lst")
        for key in keys:
            await store.put_object("lst", key, body(b"."), NewObject())
        whole = store.list_objects("lst", delimiter="/")
        assert [o.key for o in whole.objects] == ["a.txt", "dz", "f"]
        assert whole.prefixes == ["dir/", "e/"]
        inside = store.list_objects("lst", prefix="dir/", delimiter="/")
        assert ([o.key for o in inside.objects], inside.prefixes) == (["dir/1", "dir/2"],
                                                                      ["dir/sub/"])
        # Pages of two: a common prefix counts as one entry and is never repeated.
        pages, marker = [], ""
        while True:
            page = store.list_objects("lst", delimiter="/", start_after=marker, max_keys=2)
            pages.append([o.key for o in page.objects] + page.prefixes)
            if not page.truncated:
                break
            marker = page.next_marker
        assert pages == [["a.txt", "dir/"], ["dz", "e/"], ["f"]]
        flat = store.list_objects("lst", start_after="dir/2", max_keys=3)
        assert ([o.key for o in flat.objects], flat.truncated) == (["dir/sub/3", "dz", "e/4"],
                                                                   True)

    run(tmp_path, scenario)


def test_multipart_joins_parts_with_the_s3_etag(tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        await store.create_bucket("mpu")
        upload = await store.initiate_upload("mpu", "big", NewObject("video/mp4"))
        one = await store.upload_part("mpu", "big", upload.upload_id, 1, body(b"a" * 1000))
        await store.upload_part("mpu", "big", upload.upload_id, 2, body(b"x"))
        two = await store.upload_part("mpu", "big", upload.upload_id, 2, body(b"b" * 10))
        assert [p.number for p in await store.list_parts("mpu", "big", upload.upload_id)] == [
            1, 2]
        with pytest.raises(errors.InvalidPartOrder):
            await store.complete_upload("mpu", "big", upload.upload_id,
                                        [(2, two.etag), (1, one.etag)])
        with pytest.raises(errors.InvalidPart):
            await store.complete_upload("mpu", "big", upload.upload_id,
                                        [(1, one.etag), (2, hashlib.md5(b"x").hexdigest())])
        info = await store.complete_upload("mpu", "big", upload.upload_id,
                                           [(1, f'"{one.etag.upper()}"'), (2, two.etag)])
        expected = hashlib.md5(bytes.fromhex(one.etag) + bytes.fromhex(two.etag)).hexdigest()
        assert info.etag == f"{expected}-2"
        assert (info.size, info.content_type, info.multipart) == (1010, "video/mp4", True)
        assert await read_all(store, "mpu", "big") == b"a" * 1000 + b"b" * 10
        with pytest.raises(errors.NoSuchUpload):
            await store.upload_part("mpu", "big", upload.upload_id, 3, body(b"late"))
        aborted = await store.initiate_upload("mpu", "other", NewObject())
        await store.abort_upload("mpu", "other", aborted.upload_id)
        with pytest.raises(errors.NoSuchUpload):
            await store.list_parts("mpu", "other", aborted.upload_id)

    run(tmp_path, scenario)


def test_uploads_in_progress_are_listed_and_keep_the_bucket(tmp_path: Path) -> None:
    async def scenario(store: ObjectStore) -> None:
        await store.create_bucket("upl")
        first = await store.initiate_upload("upl", "b/x", NewObject())
        second = await store.initiate_upload("upl", "a/y", NewObject())
        listed = (await store.list_uploads("upl")).uploads
        assert [(u.key, u.upload_id) for u in listed] == [("a/y", second.upload_id),
                                                          ("b/x", first.upload_id)]
        assert [u.key for u in (await store.list_uploads("upl", prefix="b/")).uploads] == [
            "b/x"]
        assert [u.key for u in (await store.list_uploads(
            "upl", key_marker="a/y", upload_id_marker=second.upload_id)).uploads] == ["b/x"]
        with pytest.raises(errors.BucketNotEmpty):
            await store.delete_bucket("upl")
        for upload in listed:
            await store.abort_upload("upl", upload.key, upload.upload_id)
        await store.delete_bucket("upl")

    run(tmp_path, scenario)
