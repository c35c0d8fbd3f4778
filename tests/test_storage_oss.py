"""The object store's OSS API, driven by the official oss2 SDK the way its own tests call it
(and by raw HTTP where the wire itself is the point: error XML, virtual hosts, presigned
URLs)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import os
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import oss2
import pytest
from oss2.exceptions import (
    AccessDenied,
    BucketNotEmpty,
    InvalidDigest,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotModified,
    PreconditionFailed,
    ServerError,
    SignatureDoesNotMatch,
)
from oss2.models import PartInfo

from fcompute.objectstore.credentials import StorageKeys
from tests.conftest import unique
from tests.platform_process import PlatformProcess

ACCESS_KEY_ID = "LTAI-test-key"
ACCESS_KEY_SECRET = "test-secret-of-the-platform"
PART = 128 * 1024  # above OSS's 100 KB minimum for every part but the last


# oss2 reads only the first 4 KB of an error response and never hands its connection back,
# so a socket is left for the garbage collector after every error it raises.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# One connection pool for every client here, closed when the module is done: oss2 opens a
# pool per Bucket and never closes it.
SESSION = oss2.Session()


@pytest.fixture(scope="module", autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    SESSION.session.close()


def new_bucket(auth: Any, endpoint: str, name: str, **options: Any) -> oss2.Bucket:
    return oss2.Bucket(auth, endpoint, name, session=SESSION, **options)


def new_service(auth: Any, endpoint: str, **options: Any) -> oss2.Service:
    return oss2.Service(auth, endpoint, session=SESSION, **options)


def crc64(data: bytes) -> int:
    crc = oss2.utils.Crc64()
    crc.update(data)
    return int(crc.crc)


@pytest.fixture(scope="module")
def endpoint(shared_platform: PlatformProcess) -> str:
    return shared_platform.storage_endpoint


@pytest.fixture
def auth() -> oss2.Auth:
    return oss2.Auth("any-key", "any-secret")  # no keys configured: any key is accepted


@pytest.fixture
def bucket(endpoint: str, auth: oss2.Auth) -> Iterator[oss2.Bucket]:
    created = new_bucket(auth, endpoint, unique("oss"))
    created.create_bucket()
    yield created
    for info in oss2.ObjectIterator(created):
        created.delete_object(info.key)
    created.delete_bucket()


def raw(method: str, url: str, auth: Any, bucket: str, key: str, *,
        host: str | None = None, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None, data: bytes = b"") -> httpx.Response:
    """A request signed by oss2's own signer, sent as given (e.g. with another Host)."""
    request = oss2.http.Request(method, url, data=data, params=params, headers=headers,
                                region="cn-hangzhou", product="oss")
    auth._sign_request(request, bucket, key)
    sent = {name: value for name, value in request.headers.items() if value is not None}
    if host:
        sent["Host"] = host
    return httpx.request(method, url, params=params, headers=sent, content=data or None)


def error_fields(response: httpx.Response) -> dict[str, str]:
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


# buckets --------------------------------------------------------------------

def test_buckets_are_created_listed_described_and_deleted(endpoint: str,
                                                          auth: oss2.Auth) -> None:
    name = unique("bkt")
    bucket = new_bucket(auth, endpoint, name)
    bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    bucket.create_bucket()  # its owner may create it again
    listed = {b.name: b for b in oss2.BucketIterator(new_service(auth, endpoint))}
    assert name in listed
    entry = listed[name]
    assert entry.location == "oss-local"
    assert entry.storage_class == "Standard"
    assert entry.extranet_endpoint == urlsplit(endpoint).netloc
    assert abs(entry.creation_date - time.time()) < 60
    info = bucket.get_bucket_info()
    assert (info.name, info.location, info.acl.grant) == (name, "oss-local", "private")
    assert bucket.get_bucket_location().location == "oss-local"
    assert bucket.get_bucket_acl().acl == "private"

    bucket.put_object("keep", b"x")
    with pytest.raises(BucketNotEmpty) as refused:
        bucket.delete_bucket()
    assert (refused.value.status, refused.value.code) == (409, "BucketNotEmpty")
    bucket.delete_object("keep")
    bucket.delete_bucket()
    with pytest.raises(NoSuchBucket):
        bucket.get_bucket_info()
    with pytest.raises(NoSuchBucket):
        bucket.delete_bucket()


def test_list_buckets_pages_by_prefix_and_marker(endpoint: str, auth: oss2.Auth) -> None:
    prefix = unique("pg")
    names = [f"{prefix}-{n}" for n in range(5)]
    for name in names:
        new_bucket(auth, endpoint, name).create_bucket()
    service = new_service(auth, endpoint)
    first = service.list_buckets(prefix=prefix, max_keys=2)
    assert [b.name for b in first.buckets] == names[:2]
    assert first.is_truncated
    assert first.next_marker == names[1]
    assert [b.name for b in oss2.BucketIterator(service, prefix=prefix, max_keys=2)] == names
    for name in names:
        new_bucket(auth, endpoint, name).delete_bucket()


def test_an_invalid_bucket_name_is_refused(endpoint: str) -> None:
    response = httpx.put(f"{endpoint}/Not_Valid/", headers={"Authorization": "OSS a:b"})
    assert response.status_code == 400
    assert error_fields(response)["Code"] == "InvalidBucketName"


# objects --------------------------------------------------------------------

def test_put_and_get_keep_bytes_type_metadata_and_digests(bucket: oss2.Bucket) -> None:
    key = "dir/sub dir/ünïcode +&?.txt"
    body = os.urandom(300_000)
    put = bucket.put_object(key, body, headers={
        "Content-Type": "text/x-test", "x-oss-meta-Author": "ann", "x-oss-meta-n": "1",
        "Cache-Control": "no-cache", "Content-Disposition": "attachment; filename=a.txt"})
    assert put.etag == hashlib.md5(body).hexdigest().upper()
    assert put.crc == crc64(body)
    assert put.request_id

    got = bucket.get_object(key)
    assert got.read() == body
    assert got.status == 200
    assert got.content_type == "text/x-test"
    assert got.etag == put.etag
    assert got.headers["ETag"] == f'"{put.etag}"'
    assert got.object_type == "Normal"
    assert got.server_crc == crc64(body) == got.client_crc
    assert got.headers["x-oss-meta-author"] == "ann"
    assert got.headers["Cache-Control"] == "no-cache"
    assert got.headers["Content-Disposition"] == "attachment; filename=a.txt"
    assert abs(got.last_modified - time.time()) < 60

    # A key's content type comes from its name when none is given, as oss2 sets it.
    bucket.put_object("picture.png", b"\x89PNG")
    assert bucket.head_object("picture.png").content_type == "image/png"


def test_a_content_md5_that_does_not_match_is_refused(bucket: oss2.Bucket) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(InvalidDigest) as refused:
        bucket.put_object("checked", b"body", headers={"Content-MD5": wrong})
    assert refused.value.status == 400
    assert not bucket.object_exists("checked")
    right = base64.b64encode(hashlib.md5(b"body").digest()).decode()
    bucket.put_object("checked", b"body", headers={"Content-MD5": right})
    assert bucket.get_object("checked").read() == b"body"


def test_ranges_answer_206_with_the_exact_content_range(bucket: oss2.Bucket) -> None:
    body = bytes(range(256)) * 4
    bucket.put_object("ranged", body)
    part = bucket.get_object("ranged", byte_range=(10, 19))
    assert part.status == 206
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    assert part.content_length == 10
    assert part.read() == body[10:20]
    assert bucket.get_object("ranged", byte_range=(1000, None)).read() == body[1000:]
    tail = bucket.get_object("ranged", byte_range=(None, 24))
    assert (tail.headers["Content-Range"], tail.read()) == ("bytes 1000-1023/1024", body[-24:])

    # By default OSS ignores a range it cannot satisfy whole: all of the object, 200.
    whole = bucket.get_object("ranged", byte_range=(1000, 2000))
    assert (whole.status, whole.read()) == (200, body)
    far = bucket.get_object("ranged", byte_range=(5000, None))
    assert (far.status, far.read()) == (200, body)

    standard = {"x-oss-range-behavior": "standard"}
    cut = bucket.get_object("ranged", byte_range=(1000, 2000), headers=standard)
    assert (cut.status, cut.headers["Content-Range"]) == (206, "bytes 1000-1023/1024")
    assert cut.read() == body[1000:]
    with pytest.raises(ServerError) as refused:
        bucket.get_object("ranged", byte_range=(5000, None), headers=standard)
    assert (refused.value.status, refused.value.code) == (416, "InvalidRange")


def test_head_meta_and_exists(bucket: oss2.Bucket, endpoint: str, auth: oss2.Auth) -> None:
    bucket.put_object("here", b"12345", headers={"x-oss-meta-colour": "blue"})
    head = bucket.head_object("here")
    assert (head.content_length, head.object_type) == (5, "Normal")
    assert head.headers["x-oss-meta-colour"] == "blue"
    assert head.server_crc == crc64(b"12345")
    meta = bucket.get_object_meta("here")
    assert (meta.content_length, meta.etag) == (5, head.etag)
    assert meta.last_modified == head.last_modified
    assert bucket.object_exists("here")
    assert not bucket.object_exists("not-here")

    with pytest.raises(NoSuchKey) as missing:
        bucket.head_object("not-here")  # the error came in x-oss-err, a HEAD has no body
    assert missing.value.status == 404
    assert missing.value.details["Key"] == "not-here"
    gone = new_bucket(auth, endpoint, unique("gone"))
    with pytest.raises(NoSuchBucket):
        gone.object_exists("any")


def test_conditional_reads(bucket: oss2.Bucket) -> None:
    put = bucket.put_object("cond", b"data")
    with pytest.raises(NotModified):
        bucket.get_object("cond", headers={"If-None-Match": f'"{put.etag}"'})
    with pytest.raises(PreconditionFailed):
        bucket.get_object("cond", headers={"If-Match": '"0000"'})
    assert bucket.get_object("cond", headers={"If-Match": put.etag}).read() == b"data"
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with pytest.raises(NotModified):
        bucket.get_object("cond", headers={"If-Modified-Since": later})
    earlier = email.utils.formatdate(time.time() - 3600, usegmt=True)
    with pytest.raises(PreconditionFailed):
        bucket.head_object("cond", headers={"If-Unmodified-Since": earlier})


def test_delete_and_batch_delete(bucket: oss2.Bucket) -> None:
    keys = ["a", "dir/b c", "ünï<&>", "d"]
    for key in keys:
        bucket.put_object(key, b"x")
    assert bucket.delete_object("a").status == 204
    assert bucket.delete_object("a").status == 204  # deleting nothing is no error
    result = bucket.batch_delete_objects(["dir/b c", "ünï<&>", "never-was"])
    assert result.deleted_keys == ["dir/b c", "ünï<&>", "never-was"]
    assert [o.key for o in oss2.ObjectIterator(bucket)] == ["d"]


def test_batch_delete_checks_content_md5(bucket: oss2.Bucket, endpoint: str,
                                         auth: oss2.Auth) -> None:
    bucket.put_object("kept", b"x")
    body = b"<Delete><Quiet>false</Quiet><Object><Key>kept</Key></Object></Delete>"
    url = f"{endpoint}/{bucket.bucket_name}/"
    wrong = base64.b64encode(hashlib.md5(b"else").digest()).decode()
    for headers in ({"Content-MD5": wrong}, {}):
        response = raw("POST", url, auth, bucket.bucket_name, "", headers=headers,
                       params={"delete": ""}, data=body)
        assert response.status_code == 400
        assert error_fields(response)["Code"] == "InvalidDigest"
    assert bucket.object_exists("kept")
    response = raw("POST", url, auth, bucket.bucket_name, "", params={"delete": ""},
                   data=b"<Delete><Object><Key>kept</Key></Object>",
                   headers={"Content-MD5": base64.b64encode(hashlib.md5(
                       b"<Delete><Object><Key>kept</Key></Object>").digest()).decode()})
    assert (response.status_code, error_fields(response)["Code"]) == (400, "MalformedXML")


def test_copy_object_and_update_object_meta(bucket: oss2.Bucket, endpoint: str,
                                            auth: oss2.Auth) -> None:
    bucket.put_object("src/one", b"payload", headers={"Content-Type": "text/plain",
                                                      "x-oss-meta-tag": "orig"})
    copied = bucket.copy_object(bucket.bucket_name, "src/one", "dst/one")
    assert copied.etag == hashlib.md5(b"payload").hexdigest().upper()
    head = bucket.head_object("dst/one")
    assert (head.content_type, head.headers["x-oss-meta-tag"]) == ("text/plain", "orig")

    bucket.copy_object(bucket.bucket_name, "src/one", "dst/two", headers={
        "x-oss-metadata-directive": "REPLACE", "Content-Type": "app/x", "x-oss-meta-new": "1"})
    head = bucket.head_object("dst/two")
    assert head.content_type == "app/x"
    assert "x-oss-meta-tag" not in head.headers
    assert head.headers["x-oss-meta-new"] == "1"

    bucket.update_object_meta("src/one", {"Content-Type": "text/html", "x-oss-meta-v": "2"})
    head = bucket.head_object("src/one")
    assert (head.content_type, head.headers["x-oss-meta-v"]) == ("text/html", "2")
    assert "x-oss-meta-tag" not in head.headers
    assert bucket.get_object("src/one").read() == b"payload"

    other = new_bucket(auth, endpoint, unique("copy"))
    other.create_bucket()
    other.copy_object(bucket.bucket_name, "src/one", "across")
    assert other.get_object("across").read() == b"payload"
    other.delete_object("across")
    other.delete_bucket()
    with pytest.raises(NoSuchKey):
        bucket.copy_object(bucket.bucket_name, "no-such-source", "x")
    with pytest.raises(PreconditionFailed):
        bucket.copy_object(bucket.bucket_name, "src/one", "x",
                           headers={"x-oss-copy-source-if-match": '"0000"'})


# listing --------------------------------------------------------------------

def _fill(bucket: oss2.Bucket) -> list[str]:
    keys = ["a.txt", "b/1", "b/2", "b/c/3", "c d/f", "c d/é", "z"]  # in code point order
    for key in keys:
        bucket.put_object(key, key.encode())
    return keys


def test_list_objects_v1(bucket: oss2.Bucket) -> None:
    keys = _fill(bucket)
    assert [o.key for o in oss2.ObjectIterator(bucket, max_keys=2)] == keys
    page = bucket.list_objects(delimiter="/", max_keys=3)
    assert [o.key for o in page.object_list] == ["a.txt"]
    assert page.prefix_list == ["b/", "c d/"]
    assert page.is_truncated
    assert page.next_marker == "c d/"
    rest = bucket.list_objects(delimiter="/", marker=page.next_marker)
    assert ([o.key for o in rest.object_list], rest.prefix_list) == (["z"], [])
    assert not rest.is_truncated
    inside = bucket.list_objects(prefix="b/", delimiter="/")
    assert ([o.key for o in inside.object_list], inside.prefix_list) == (["b/1", "b/2"],
                                                                        ["b/c/"])
    entry = bucket.list_objects(prefix="c d/é").object_list[0]
    assert (entry.size, entry.type, entry.storage_class) == (len("c d/é".encode()),
                                                            "Normal", "Standard")
    assert entry.etag == hashlib.md5("c d/é".encode()).hexdigest().upper()
    assert abs(entry.last_modified - time.time()) < 60
    assert entry.owner is not None


def test_list_objects_v2(bucket: oss2.Bucket) -> None:
    keys = _fill(bucket)
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, max_keys=2)] == keys
    first = bucket.list_objects_v2(max_keys=3)
    assert first.is_truncated
    assert first.next_continuation_token
    second = bucket.list_objects_v2(continuation_token=first.next_continuation_token,
                                    max_keys=3)
    assert [o.key for o in first.object_list + second.object_list] == keys[:6]
    assert [o.key for o in bucket.list_objects_v2(start_after="b/2").object_list] == [
        "b/c/3", "c d/f", "c d/é", "z"]
    grouped = bucket.list_objects_v2(prefix="c d/", delimiter="/")
    assert [o.key for o in grouped.object_list] == ["c d/f", "c d/é"]
    assert grouped.object_list[0].owner is None
    assert bucket.list_objects_v2(fetch_owner=True).object_list[0].owner is not None
    folders = [p for p in oss2.ObjectIteratorV2(bucket, delimiter="/", max_keys=1)
               if isinstance(p, oss2.models.SimplifiedObjectInfo) and p.is_prefix()]
    assert [p.key for p in folders] == ["b/", "c d/"]
    with pytest.raises(ServerError) as refused:
        bucket.list_objects_v2(max_keys=5000)
    assert (refused.value.status, refused.value.code) == (400, "InvalidArgument")


# multipart ------------------------------------------------------------------

def test_multipart_upload(bucket: oss2.Bucket) -> None:
    parts_data = [os.urandom(PART), os.urandom(PART), b"tail"]
    upload_id = bucket.init_multipart_upload(
        "big.bin", headers={"x-oss-meta-kind": "multi"}).upload_id
    parts = []
    for number, data in enumerate(parts_data, 1):
        result = bucket.upload_part("big.bin", upload_id, number, data)
        assert result.etag == hashlib.md5(data).hexdigest().upper()
        assert result.crc == crc64(data)
        parts.append(PartInfo(number, result.etag, size=len(data), part_crc=result.crc))
    listed = bucket.list_parts("big.bin", upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
        (p.part_number, p.etag, p.size) for p in parts]
    assert not listed.is_truncated
    paged = bucket.list_parts("big.bin", upload_id, max_parts=2)
    assert paged.is_truncated
    assert paged.next_marker == "2"

    # part_crc and size given: oss2 checks the completed object's CRC against them
    done = bucket.complete_multipart_upload("big.bin", upload_id, parts)
    joined = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest()
    assert done.etag == f"{joined.upper()}-3"
    body = b"".join(parts_data)
    assert done.crc == crc64(body)
    got = bucket.get_object("big.bin")
    assert got.read() == body
    assert (got.object_type, got.headers["x-oss-meta-kind"]) == ("Multipart", "multi")
    with pytest.raises(NoSuchUpload):
        bucket.list_parts("big.bin", upload_id)


def test_multipart_abort_small_parts_and_part_copy(bucket: oss2.Bucket) -> None:
    upload_id = bucket.init_multipart_upload("aborted").upload_id
    bucket.upload_part("aborted", upload_id, 1, b"x")
    bucket.abort_multipart_upload("aborted", upload_id)
    with pytest.raises(NoSuchUpload) as gone:
        bucket.upload_part("aborted", upload_id, 2, b"y")
    assert (gone.value.status, gone.value.code) == (404, "NoSuchUpload")

    upload_id = bucket.init_multipart_upload("small").upload_id
    first = bucket.upload_part("small", upload_id, 1, b"too small")
    last = bucket.upload_part("small", upload_id, 2, b"last")
    with pytest.raises(ServerError) as small:
        bucket.complete_multipart_upload("small", upload_id, [PartInfo(1, first.etag),
                                                              PartInfo(2, last.etag)])
    assert (small.value.status, small.value.code) == (400, "EntityTooSmall")
    bucket.abort_multipart_upload("small", upload_id)

    source = os.urandom(2 * PART + 10)
    bucket.put_object("copy-source", source)
    upload_id = bucket.init_multipart_upload("assembled").upload_id
    one = bucket.upload_part_copy(bucket.bucket_name, "copy-source", (0, PART - 1),
                                  "assembled", upload_id, 1)
    two = bucket.upload_part_copy(bucket.bucket_name, "copy-source", (PART, None),
                                  "assembled", upload_id, 2)
    bucket.complete_multipart_upload("assembled", upload_id, [PartInfo(1, one.etag),
                                                              PartInfo(2, two.etag)])
    assert bucket.get_object("assembled").read() == source

    upload_id = bucket.init_multipart_upload("all-parts").upload_id
    bucket.upload_part("all-parts", upload_id, 1, source[:PART])
    bucket.upload_part("all-parts", upload_id, 2, source[PART:])
    bucket.complete_multipart_upload("all-parts", upload_id, None,
                                     headers={"x-oss-complete-all": "yes"})
    assert bucket.get_object("all-parts").read() == source


def test_files_and_resumable_transfers(bucket: oss2.Bucket, tmp_path: Path) -> None:
    data = os.urandom(5 * PART + 1234)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    bucket.put_object_from_file("from-file", str(source))
    bucket.get_object_to_file("from-file", str(tmp_path / "plain.bin"))  # CRC checked
    assert (tmp_path / "plain.bin").read_bytes() == data

    stored = oss2.resumable_upload(
        bucket, "resumable.bin", str(source), store=oss2.ResumableStore(root=str(tmp_path)),
        multipart_threshold=PART, part_size=PART, num_threads=3)
    assert stored.crc == crc64(data)  # resumable_upload compared it with its parts'
    head = bucket.head_object("resumable.bin")
    assert head.object_type == "Multipart"
    assert head.etag.endswith("-6")
    target = tmp_path / "downloaded.bin"
    oss2.resumable_download(
        bucket, "resumable.bin", str(target),
        store=oss2.ResumableDownloadStore(root=str(tmp_path)), multiget_threshold=PART,
        part_size=PART, num_threads=3)
    assert target.read_bytes() == data


# errors and the wire --------------------------------------------------------

def test_errors_are_oss_xml_with_request_ids(bucket: oss2.Bucket, endpoint: str,
                                             auth: oss2.Auth) -> None:
    url = f"{endpoint}/{bucket.bucket_name}/no%2Fsuch"
    response = raw("GET", url, auth, bucket.bucket_name, "no/such")
    assert response.status_code == 404
    fields = error_fields(response)
    assert fields["Code"] == "NoSuchKey"
    assert fields["Message"]
    assert fields["RequestId"] == response.headers["x-oss-request-id"]
    assert fields["HostId"] == urlsplit(endpoint).netloc
    assert fields["Key"] == "no/such"
    head = raw("HEAD", url, auth, bucket.bucket_name, "no/such")
    assert head.content == b""
    decoded = ElementTree.fromstring(base64.b64decode(head.headers["x-oss-err"]))
    assert decoded.findtext("Code") == "NoSuchKey"
    ok = raw("GET", f"{endpoint}/{bucket.bucket_name}/", auth, bucket.bucket_name, "")
    assert len(ok.headers["x-oss-request-id"]) == 24

    missing = new_bucket(auth, endpoint, unique("missing"))
    with pytest.raises(NoSuchBucket) as no_bucket:
        missing.put_object("k", os.urandom(3 * 1024 * 1024))
    assert no_bucket.value.request_id
    with pytest.raises(NoSuchKey):
        bucket.get_object("absent")
    with pytest.raises(ServerError) as unsupported:
        bucket.get_bucket_cors()
    assert (unsupported.value.status, unsupported.value.code) == (501, "NotImplemented")


def test_virtual_host_addressing(bucket: oss2.Bucket, endpoint: str, auth: oss2.Auth) -> None:
    port = urlsplit(endpoint).port
    name = bucket.bucket_name
    host = f"{name}.oss.test:{port}"
    put = raw("PUT", f"{endpoint}/dir%2Fvh.txt", auth, name, "dir/vh.txt", host=host,
              data=b"virtual", headers={"Content-Type": "text/plain"})
    assert put.status_code == 200, put.text
    assert bucket.get_object("dir/vh.txt").read() == b"virtual"
    got = raw("GET", f"{endpoint}/dir%2Fvh.txt", auth, name, "dir/vh.txt", host=host)
    assert got.content == b"virtual"
    listed = raw("GET", f"{endpoint}/", auth, name, "", host=host, params={"prefix": "dir/"})
    assert ElementTree.fromstring(listed.content).findtext("Contents/Key") == "dir/vh.txt"

    created = unique("vhost")
    response = raw("PUT", f"{endpoint}/", auth, created, "", host=f"{created}.localhost:{port}")
    assert response.status_code == 200
    assert new_bucket(auth, endpoint, created).get_bucket_info().name == created
    new_bucket(auth, endpoint, created).delete_bucket()


def test_v4_signature_and_presigned_urls_when_open(bucket: oss2.Bucket, endpoint: str) -> None:
    v4 = new_bucket(oss2.AuthV4("any", "any"), endpoint, bucket.bucket_name,
                     region="cn-hangzhou")
    v4.put_object("v4/key with space", b"four")
    assert v4.get_object("v4/key with space").read() == b"four"
    url = bucket.sign_url("GET", "v4/key with space", 60)
    assert httpx.get(url).content == b"four"
    expired = bucket.sign_url("GET", "v4/key with space", -10)
    response = httpx.get(expired)
    assert (response.status_code, error_fields(response)["Code"]) == (403, "AccessDenied")


# signatures with access keys configured ---------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("signed") / "data", env={
        "FCOMPUTE_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "FCOMPUTE_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def signed_bucket(signed: PlatformProcess) -> oss2.Bucket:
    bucket = new_bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), signed.storage_endpoint,
                         unique("signed"))
    bucket.create_bucket()
    bucket.put_object("doc/read me.txt", b"signed content")
    return bucket


def test_v1_signatures_are_checked(signed: PlatformProcess, signed_bucket: oss2.Bucket) -> None:
    endpoint, name = signed.storage_endpoint, signed_bucket.bucket_name
    assert signed_bucket.get_object("doc/read me.txt").read() == b"signed content"
    names = [b.name for b in new_service(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
                                          endpoint).list_buckets().buckets]
    assert name in names
    page = signed_bucket.list_objects_v2(prefix="doc/")  # signs ?continuation-token
    assert [o.key for o in page.object_list] == ["doc/read me.txt"]
    signed_bucket.put_object("meta", b"m", headers={"x-oss-meta-a": "1", "x-oss-meta-b": "2"})

    wrong = new_bucket(oss2.Auth(ACCESS_KEY_ID, "not-the-secret"), endpoint, name)
    with pytest.raises(SignatureDoesNotMatch) as mismatch:
        wrong.get_object("doc/read me.txt")
    assert mismatch.value.status == 403
    assert mismatch.value.details["StringToSign"].endswith(f"/{name}/doc/read me.txt")
    unknown = new_bucket(oss2.Auth("nobody", ACCESS_KEY_SECRET), endpoint, name)
    with pytest.raises(ServerError) as refused:
        unknown.put_object("x", b"x")
    assert (refused.value.status, refused.value.code) == (403, "InvalidAccessKeyId")
    assert not signed_bucket.object_exists("x")
    with pytest.raises(AccessDenied):
        new_bucket(oss2.AnonymousAuth(), endpoint, name).get_object("doc/read me.txt")
    # An unsigned request the store can tell is OSS's (an x-oss-* header) gets OSS's answer.
    anonymous = httpx.get(f"{endpoint}/{name}/doc%2Fread%20me.txt",
                          headers={"x-oss-date": email.utils.formatdate(usegmt=True)})
    assert anonymous.status_code == 403
    assert anonymous.headers["x-oss-request-id"]
    assert error_fields(anonymous)["Code"] == "AccessDenied"


def test_a_request_dated_far_off_is_refused(signed: PlatformProcess,
                                            signed_bucket: oss2.Bucket) -> None:
    endpoint, name = signed.storage_endpoint, signed_bucket.bucket_name
    stale = email.utils.formatdate(time.time() - 3600, usegmt=True)
    response = raw("GET", f"{endpoint}/{name}/", oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
                   name, "", headers={"x-oss-date": stale})
    assert response.status_code == 403
    assert error_fields(response)["Code"] == "RequestTimeTooSkewed"


def test_v4_signatures_are_checked(signed: PlatformProcess, signed_bucket: oss2.Bucket) -> None:
    endpoint, name = signed.storage_endpoint, signed_bucket.bucket_name
    v4 = new_bucket(oss2.AuthV4(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name,
                     region="cn-hangzhou")
    assert v4.get_object("doc/read me.txt").read() == b"signed content"
    v4.put_object("v4 put", b"4", headers={"x-oss-meta-x": "y"})
    assert [o.key for o in oss2.ObjectIteratorV2(v4, prefix="v4")] == ["v4 put"]
    v4.batch_delete_objects(["v4 put"])
    service = new_service(oss2.AuthV4(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint,
                           region="cn-hangzhou")
    assert name in [b.name for b in service.list_buckets().buckets]
    wrong = new_bucket(oss2.AuthV4(ACCESS_KEY_ID, "wrong"), endpoint, name,
                        region="cn-hangzhou")
    with pytest.raises(SignatureDoesNotMatch):
        wrong.get_object("doc/read me.txt")


def test_presigned_urls(signed: PlatformProcess, signed_bucket: oss2.Bucket) -> None:
    endpoint, name = signed.storage_endpoint, signed_bucket.bucket_name
    v1_url = signed_bucket.sign_url("GET", "doc/read me.txt", 300)
    assert httpx.get(v1_url).content == b"signed content"
    v4 = new_bucket(oss2.AuthV4(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name,
                     region="cn-hangzhou")
    v4_url = v4.sign_url("GET", "doc/read me.txt", 300)
    assert httpx.get(v4_url).content == b"signed content"
    put_url = signed_bucket.sign_url("PUT", "uploaded", 300,
                                     headers={"Content-Type": "text/plain"})
    assert httpx.put(put_url, content=b"up", headers={"Content-Type": "text/plain"}
                     ).status_code == 200
    assert signed_bucket.get_object("uploaded").read() == b"up"
    # The content type was signed: another one does not match.
    assert httpx.put(put_url, content=b"up", headers={"Content-Type": "text/html"}
                     ).status_code == 403

    forged = v1_url.replace("read%20me.txt", "other.txt")
    response = httpx.get(forged)
    assert (response.status_code, error_fields(response)["Code"]) == (
        403, "SignatureDoesNotMatch")
    response = httpx.get(signed_bucket.sign_url("GET", "doc/read me.txt", -1))
    assert (response.status_code, error_fields(response)["Code"]) == (403, "AccessDenied")
    assert "expired" in error_fields(response)["Message"]

    split = urlsplit(v4_url)
    params = dict(parse_qsl(split.query))
    params["x-oss-date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 600))
    response = httpx.get(f"{endpoint}{split.path}?{urlencode(params, quote_via=quote)}")
    assert (response.status_code, error_fields(response)["Code"]) == (403, "AccessDenied")


def test_temporary_credentials(signed: PlatformProcess, signed_bucket: oss2.Bucket) -> None:
    endpoint, name = signed.storage_endpoint, signed_bucket.bucket_name
    keys = StorageKeys({ACCESS_KEY_ID: ACCESS_KEY_SECRET},
                       (signed.data_dir / "secret").read_bytes())
    issued = keys.issue("service-a", 900)
    sts = new_bucket(oss2.StsAuth(issued.access_key_id, issued.access_key_secret,
                                   issued.security_token), endpoint, name)
    sts.put_object("sts/object", b"temporary")
    assert sts.get_object("sts/object").read() == b"temporary"
    assert httpx.get(sts.sign_url("GET", "sts/object", 60)).content == b"temporary"
    sts_v4 = new_bucket(oss2.StsAuth(issued.access_key_id, issued.access_key_secret,
                                      issued.security_token, auth_version=oss2.AUTH_VERSION_4),
                         endpoint, name, region="cn-hangzhou")
    assert sts_v4.get_object("sts/object").read() == b"temporary"
    assert httpx.get(sts_v4.sign_url("GET", "sts/object", 60)).content == b"temporary"

    other = keys.issue("service-b", 900)
    mixed = new_bucket(oss2.StsAuth(issued.access_key_id, issued.access_key_secret,
                                     other.security_token), endpoint, name)
    with pytest.raises(ServerError) as refused:
        mixed.get_object("sts/object")
    assert (refused.value.status, refused.value.code) == (403, "InvalidAccessKeyId")
    lapsed = keys.issue("service-a", -10)
    expired = new_bucket(oss2.StsAuth(lapsed.access_key_id, lapsed.access_key_secret,
                                       lapsed.security_token), endpoint, name)
    with pytest.raises(ServerError) as old:
        expired.get_object("sts/object")
    assert (old.value.status, old.value.code) == (403, "InvalidAccessKeyId")


def test_v1_signature_matches_the_documented_example() -> None:
    """The string to sign of oss2's own example, computed by the store's signer."""
    from fcompute.objectstore.oss import signing_v1

    to_sign = signing_v1.string_to_sign(
        "PUT", b"", b"text/plain", b"Sat, 12 Dec 2015 00:35:53 GMT",
        [(b"x-oss-meta-author", b"foo"), (b"x-oss-security-token", b"TOKEN")],
        "ming-oss-share", "dir/a b.txt", [])
    assert signing_v1.signature("fake-access-key-secret", to_sign) == (
        "C2Wt+Tab432Mvxp+VNFmRCCz+Lo=")
    batch = signing_v1.string_to_sign(
        "POST", b"zsbG45tEj+StFBFghUllvw==", b"", b"Sat, 12 Dec 2015 00:35:53 GMT", [],
        "ming-oss-share", "", [("delete", ""), ("encoding-type", "url")])
    assert signing_v1.signature("fake-access-key-secret", batch) == (
        "PmerMCZxA7CWXWbKTU3Ea6aUEKI=")


def test_uploads_in_progress_are_listed_in_pages(bucket: oss2.Bucket) -> None:
    started = {key: bucket.init_multipart_upload(key).upload_id
               for key in ("a/1.bin", "a/2.bin", "b.bin", "dir/x/3.bin")}
    listed = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(bucket, max_uploads=2)]
    assert listed == sorted(started.items())
    rolled = bucket.list_multipart_uploads(delimiter="/")
    assert [u.key for u in rolled.upload_list] == ["b.bin"]
    assert rolled.prefix_list == ["a/", "dir/"]
    assert [u.key for u in bucket.list_multipart_uploads(prefix="a/").upload_list] == [
        "a/1.bin", "a/2.bin"]
    assert [u.key for u in bucket.list_multipart_uploads(key_marker="a/2.bin").upload_list] \
        == ["b.bin", "dir/x/3.bin"]
    for key, upload_id in started.items():
        bucket.abort_multipart_upload(key, upload_id)
    assert bucket.list_multipart_uploads().upload_list == []
