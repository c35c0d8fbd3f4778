"""The object store's S3 API driven by boto3 against a real platform, the way boto3's own
functional tests call it: buckets, objects, listings, multipart, transfers, checksums
(boto3's default CRC32, the aws-chunked trailer it sends over https), signatures,
presigned URLs and temporary credentials. Requests boto3 cannot be made to send (a bad
trailer, signed chunks, virtual-host style without DNS) are signed with botocore's own
signer and sent with httpx."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import io
import os
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from fastcrc import crc32

from fcompute.objectstore.credentials import StorageKeys
from tests.platform_process import PlatformProcess, free_port

REGION = "local"
KEY_ID, SECRET = "AKIDTESTS3", "s3-test-secret"
MB = 1024 * 1024
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def client(endpoint: str, key: str = "any", secret: str = "any", *,
           config: Config | None = None, **options: Any) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name=REGION,
                        config=NO_RETRIES.merge(config) if config else NO_RETRIES, **options)


@pytest.fixture(scope="module")
def open_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """No access keys: any key is accepted, as on loopback."""
    running = PlatformProcess(tmp_path_factory.mktemp("s3open") / "data").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keyed_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    running = PlatformProcess(tmp_path_factory.mktemp("s3keys") / "data", env={
        "FCOMPUTE_ACCESS_KEY_ID": KEY_ID, "FCOMPUTE_ACCESS_KEY_SECRET": SECRET}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def s3(open_platform: PlatformProcess) -> Any:
    return client(open_platform.storage_endpoint)


@pytest.fixture(scope="module")
def signed_s3(keyed_platform: PlatformProcess) -> Any:
    return client(keyed_platform.storage_endpoint, KEY_ID, SECRET)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@contextmanager
def s3_error(status: int, code: str) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """botocore raises ClientError with S3's code and status, and the request id."""
    with pytest.raises(ClientError) as info:
        yield info
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["RequestId"], response


def sent_headers(s3_client: Any) -> list[dict[str, str]]:
    """Records the headers of every request the client sends from now on."""
    seen: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
                   for k, v in request.headers.items()}
        seen.append({**headers, ":url": request.url})

    s3_client.meta.events.register("before-send.s3.*", record)
    return seen


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class _Signer(S3SigV4Auth):  # type: ignore[misc]
    """botocore's S3 signer with the payload hash chosen by the test."""

    def __init__(self, key: str, secret: str, payload: str) -> None:
        super().__init__(Credentials(key, secret), "s3", REGION)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def sign(method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
         payload: str | None = None, key: str = KEY_ID, secret: str = SECRET
         ) -> dict[str, str]:
    """The headers botocore's S3 signer puts on this request (by default the body's
    SHA-256 as its payload hash)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    _Signer(key, secret, payload or hashlib.sha256(body).hexdigest()).add_auth(request)
    return dict(request.headers.items())


# -- buckets ---------------------------------------------------------------------------


def test_buckets_create_list_head_locate_and_delete(s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == REGION
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == REGION
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    with s3_error(409, "BucketAlreadyOwnedByYou"):
        s3.create_bucket(Bucket=name)
    # A region constraint is accepted (there is one region here).
    other = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=other,
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with s3_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=name)
    s3.delete_object(Bucket=name, Key="k")
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "404"):  # HEAD errors have no body: botocore names the status
        s3.head_bucket(Bucket=name)
    with s3_error(404, "NoSuchBucket"):
        s3.delete_bucket(Bucket=name)
    with s3_error(404, "NoSuchBucket"):
        s3.list_objects_v2(Bucket=name)
    with s3_error(404, "NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=other)


def test_bucket_names_are_checked(open_platform: PlatformProcess) -> None:
    # botocore refuses most bad names itself; sent by hand, the store refuses them too.
    response = httpx.put(f"{open_platform.storage_endpoint}/Bad_Name")
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "InvalidBucketName"


def test_list_buckets_pages(s3: Any) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2,
                           ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:]
    assert "ContinuationToken" not in rest


# -- objects ---------------------------------------------------------------------------


def test_put_get_head_keep_type_metadata_and_standard_headers(s3: Any, bucket: str) -> None:
    data = os.urandom(3 * MB + 17)
    put = s3.put_object(
        Bucket=bucket, Key="dir/pic one+€.bin", Body=data, ContentType="image/png",
        CacheControl="max-age=60", ContentDisposition='attachment; filename="a.png"',
        ContentEncoding="identity", ContentLanguage="en", Expires=datetime.datetime(
            2030, 1, 1, tzinfo=datetime.UTC), Metadata={"Owner": "me", "n": "1"})
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/pic one+€.bin")
    assert got["Body"].read() == data
    for answer in (got, s3.head_object(Bucket=bucket, Key="dir/pic one+€.bin")):
        assert answer["ContentLength"] == len(data)
        assert answer["ContentType"] == "image/png"
        assert answer["ETag"] == put["ETag"]
        assert answer["Metadata"] == {"owner": "me", "n": "1"}
        assert answer["CacheControl"] == "max-age=60"
        assert answer["ContentDisposition"] == 'attachment; filename="a.png"'
        assert answer["ContentEncoding"] == "identity"
        assert answer["ContentLanguage"] == "en"
        assert answer["ExpiresString"] == "Tue, 01 Jan 2030 00:00:00 GMT"
        assert answer["AcceptRanges"] == "bytes"
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    overridden = s3.get_object(Bucket=bucket, Key="dir/pic one+€.bin",
                               ResponseContentType="text/plain",
                               ResponseContentDisposition="inline")
    assert overridden["ContentType"] == "text/plain"
    assert overridden["ContentDisposition"] == "inline"
    # Without a Content-Type, S3's default.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"")
    empty = s3.get_object(Bucket=bucket, Key="plain")
    assert (empty["ContentType"], empty["ContentLength"]) == ("binary/octet-stream", 0)


def test_ranges(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 10
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part["Body"].read() == data[10:20]
    tail = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")
    assert tail["Body"].read() == data[-5:]
    assert tail["ContentRange"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"
    open_end = s3.get_object(Bucket=bucket, Key="r", Range="bytes=2500-")
    assert open_end["Body"].read() == data[2500:]
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-0")
    assert (head["ContentLength"], head["ResponseMetadata"]["HTTPStatusCode"]) == (1, 206)
    with s3_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"abc")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"abc"
    with s3_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123"')
    with s3_error(304, "304"):
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    with s3_error(304, "304"):
        s3.head_object(Bucket=bucket, Key="c",
                       IfModifiedSince=datetime.datetime.now(datetime.UTC)
                       + datetime.timedelta(minutes=1))
    with s3_error(412, "412"):
        s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=datetime.datetime(
            2000, 1, 1, tzinfo=datetime.UTC))
    # Conditional writes: If-None-Match: * refuses to replace an object.
    with s3_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="c", Body=b"new", IfNoneMatch="*")
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"abc"


def test_missing_objects_and_error_documents(open_platform: PlatformProcess, s3: Any,
                                             bucket: str) -> None:
    with s3_error(404, "NoSuchKey") as info:
        s3.get_object(Bucket=bucket, Key="nope/x")
    assert info.value.response["Error"]["Key"] == "nope/x"
    with s3_error(404, "404"):
        s3.head_object(Bucket=bucket, Key="nope")
    with s3_error(404, "NoSuchBucket"):
        s3.get_object(Bucket=f"gone-{uuid.uuid4().hex[:8]}", Key="x")
    base = open_platform.storage_endpoint
    missing = httpx.get(f"{base}/{bucket}/nope%20x")
    document = ET.fromstring(missing.content)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/xml"
    assert document.tag == "Error"
    assert document.findtext("Code") == "NoSuchKey"
    assert document.findtext("Resource") == f"/{bucket}/nope x"
    assert document.findtext("RequestId") == missing.headers["x-amz-request-id"]
    head = httpx.head(f"{base}/{bucket}/nope")
    assert (head.status_code, head.content) == (404, b"")
    assert head.headers["x-amz-request-id"]
    # A subresource the store lacks is a 501, never the plain operation.
    s3.put_object(Bucket=bucket, Key="t", Body=b"keep")
    with s3_error(501, "NotImplemented"):
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": []})
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"keep"
    not_allowed = httpx.delete(f"{base}/")
    assert not_allowed.status_code == 405
    assert ET.fromstring(not_allowed.content).findtext("Code") == "MethodNotAllowed"


def test_delete_object_and_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c/d"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.delete_object(Bucket=bucket, Key="a")["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.delete_object(Bucket=bucket, Key="a")  # already gone: still 204, as S3
    seen = sent_headers(s3)
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "b"}, {"Key": "c/d"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["b", "c/d", "never"]
    # boto3 >= 1.36 protects the document with a CRC32 header, not Content-MD5.
    assert "x-amz-checksum-crc32" in seen[-1]
    assert "content-md5" not in seen[-1]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="q", Body=b"")
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q"}],
                                                     "Quiet": True})
    assert "Deleted" not in quiet
    assert "Errors" not in quiet


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src é", Body=b"payload", ContentType="text/x-a",
                  Metadata={"a": "1"}, CacheControl="no-cache")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket,
                                                                    "Key": "src é"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    same = s3.head_object(Bucket=bucket, Key="dst")
    assert (same["ContentType"], same["Metadata"], same["CacheControl"]) == (
        "text/x-a", {"a": "1"}, "no-cache")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src é",
                   MetadataDirective="REPLACE", ContentType="text/x-b", Metadata={"b": "2"})
    replaced = s3.get_object(Bucket=bucket, Key="dst")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("text/x-b", {"b": "2"})
    assert replaced["Body"].read() == b"payload"
    # Onto itself only with REPLACE (a metadata update).
    with s3_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"},
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"c": "3"}
    with s3_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "none"})
    with s3_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src é"},
                       CopySourceIfMatch='"ffff"')


# -- listings ----------------------------------------------------------------------------


LISTED = ["a/1", "a/2", "a/b/3", "b", "c d+e%f", "c/\x01odd", "z/ü"]


def test_list_objects_v2_prefix_delimiter_and_pages(s3: Any, bucket: str) -> None:
    for key in LISTED:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    everything = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in everything["Contents"]] == LISTED  # url-encoded on the wire
    assert everything["KeyCount"] == len(LISTED)
    assert everything["Contents"][0]["Size"] == 1
    assert everything["Contents"][0]["StorageClass"] == "STANDARD"
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "c/", "z/"]
    assert [o["Key"] for o in rolled["Contents"]] == ["b", "c d+e%f"]
    assert rolled["KeyCount"] == 5
    under = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["a/b/"]
    assert under["Prefix"] == "a/"
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b")
    assert [o["Key"] for o in after["Contents"]] == LISTED[4:]
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"]
    assert page["KeyCount"] == 2
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2})
    keys, prefixes = [], []
    for each in pages:
        keys += [o["Key"] for o in each.get("Contents", [])]
        prefixes += [p["Prefix"] for p in each.get("CommonPrefixes", [])]
    assert (keys, prefixes) == (["b", "c d+e%f"], ["a/", "c/", "z/"])
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0
    with s3_error(400, "InvalidArgument"):
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!not a token!!")


def test_list_objects_v1_markers_and_raw_xml(open_platform: PlatformProcess, s3: Any,
                                             bucket: str) -> None:
    for key in LISTED:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listing = s3.list_objects(Bucket=bucket, Marker="a/2")
    assert [o["Key"] for o in listing["Contents"]] == LISTED[2:]
    assert listing["Contents"][0]["Owner"]["ID"]
    keys = []
    for each in s3.get_paginator("list_objects").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 3}):
        keys += [o["Key"] for o in each.get("Contents", [])]
    assert keys == LISTED
    rolled = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert rolled["IsTruncated"]
    assert rolled["NextMarker"] == "b"
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    more = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=rolled["NextMarker"])
    assert [o["Key"] for o in more["Contents"]] == ["c d+e%f"]
    assert [p["Prefix"] for p in more["CommonPrefixes"]] == ["c/", "z/"]
    raw = httpx.get(f"{open_platform.storage_endpoint}/{bucket}",
                    params={"prefix": "c", "encoding-type": "url"})
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    found = [k.text for k in ET.fromstring(raw.content).findall("s3:Contents/s3:Key", ns)]
    assert found == ["c%20d%2Be%25f", "c/%01odd"]


# -- multipart ---------------------------------------------------------------------------


def test_multipart_upload_list_complete_abort(s3: Any, bucket: str) -> None:
    parts_data = [os.urandom(5 * MB), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/mp4",
                                        Metadata={"m": "v"})
    upload_id = upload["UploadId"]
    etags = []
    for number, data in enumerate(parts_data, start=1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id,
                              PartNumber=number, Body=data)
        assert part["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        assert part["ChecksumCRC32"] == crc32_b64(data)  # boto3's default checksum
        etags.append(part["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (1, 5 * MB), (2, 1234)]
    first = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id, MaxParts=1)
    assert first["IsTruncated"]
    assert first["NextPartNumberMarker"] == 1
    with s3_error(400, "InvalidPart"):
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": '"00"'}]})
    with s3_error(400, "InvalidPartOrder"):
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 2, "ETag": etags[1]},
                                         {"PartNumber": 1, "ETag": etags[0]}]})
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=3,
                           Body=b"small")
    with s3_error(400, "EntityTooSmall"):  # every part but the last: at least 5 MiB
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 2, "ETag": etags[1]},
                                         {"PartNumber": 3, "ETag": small["ETag"]}]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [
            {"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
    joined = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest()
    assert done["ETag"] == f'"{joined}-2"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts_data)
    assert (got["ETag"], got["ContentType"], got["Metadata"]) == (
        done["ETag"], "video/mp4", {"m": "v"})
    with s3_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    other = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    assert s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=other)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=other, PartNumber=1, Body=b"x")
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="gone")


def test_multipart_with_checksum_algorithm_and_part_copy(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="joined", ChecksumAlgorithm="CRC32")
    assert upload["ChecksumAlgorithm"] == "CRC32"
    upload_id = upload["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=upload_id,
                                 PartNumber=1, CopySource={"Bucket": bucket, "Key": "source"},
                                 CopySourceRange=f"bytes=0-{5 * MB - 1}")
    first = source[:5 * MB]
    assert copied["CopyPartResult"]["ETag"] == f'"{hashlib.md5(first).hexdigest()}"'
    assert copied["CopyPartResult"]["ChecksumCRC32"] == crc32_b64(first)
    second = s3.upload_part(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=2,
                            Body=b"tail", ChecksumAlgorithm="CRC32")
    with s3_error(400, "InvalidArgument"):
        s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "source"},
                            CopySourceRange=f"bytes=0-{len(source)}")
    listed = s3.list_parts(Bucket=bucket, Key="joined", UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == "CRC32"
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [crc32_b64(first),
                                                             crc32_b64(b"tail")]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="joined", UploadId=upload_id, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"],
             "ChecksumCRC32": crc32_b64(first)},
            {"PartNumber": 2, "ETag": second["ETag"], "ChecksumCRC32": crc32_b64(b"tail")}]})
    composite = zlib.crc32(base64.b64decode(crc32_b64(first)) + base64.b64decode(
        crc32_b64(b"tail"))).to_bytes(4, "big")
    assert done["ChecksumCRC32"] == f"{base64.b64encode(composite).decode()}-2"
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == first + b"tail"


def test_list_multipart_uploads(s3: Any, bucket: str) -> None:
    ids = {key: s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
           for key in ("a/1", "a/2", "b")}
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == sorted(ids.items())
    assert listed["Uploads"][0]["Initiated"]
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in rolled["Uploads"]] == ["b"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1)
    assert first["IsTruncated"]
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == ("a/1", ids["a/1"])
    rest = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=first["NextKeyMarker"],
                                     UploadIdMarker=first["NextUploadIdMarker"])
    assert [u["Key"] for u in rest["Uploads"]] == ["a/2", "b"]
    # Uploads in progress keep their bucket.
    with s3_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=bucket)


def test_part_number_reads(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="one", Body=b"single")
    assert s3.get_object(Bucket=bucket, Key="one", PartNumber=1)["Body"].read() == b"single"
    with s3_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)


def test_upload_file_and_download_file_in_parts(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MB + 5)  # s3transfer goes multipart above 8 MB, both ways
    source, back = tmp_path / "big.bin", tmp_path / "back.bin"
    source.write_bytes(data)
    seen = sent_headers(s3)
    s3.upload_file(str(source), bucket, "big.bin", ExtraArgs={"ContentType": "x/big"})
    parts = [h for h in seen if "partNumber=" in h[":url"]]
    assert len(parts) == 3  # three UploadPart requests, each with boto3's CRC32
    assert all("x-amz-checksum-crc32" in h for h in parts)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-3"')
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "x/big"
    s3.download_file(bucket, "big.bin", str(back))
    assert back.read_bytes() == data
    ranged = [h for h in seen if h.get("range")]
    assert len(ranged) >= 3
    assert all(h.get("if-match") == head["ETag"] for h in ranged[1:])


# -- checksums ---------------------------------------------------------------------------


def test_default_crc32_is_checked_stored_and_returned(open_platform: PlatformProcess, s3: Any,
                                                      bucket: str) -> None:
    seen = sent_headers(s3)
    data = b"checksummed " * 1000
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert seen[-1]["x-amz-checksum-crc32"] == crc32_b64(data)  # boto3 >= 1.36 default
    assert seen[-1]["x-amz-content-sha256"] == hashlib.sha256(data).hexdigest()  # over http
    assert put["ChecksumCRC32"] == crc32_b64(data)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc32_b64(data)
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == data  # botocore checked the CRC32 while reading
    # boto3 asks for checksums on every GetObject; without x-amz-checksum-mode, none.
    url = f"{open_platform.storage_endpoint}/{bucket}/k"
    assert "x-amz-checksum-crc32" not in httpx.get(url).headers
    assert httpx.get(url, headers={"x-amz-checksum-mode": "ENABLED"}).headers[
        "x-amz-checksum-crc32"] == crc32_b64(data)
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")[
        "ChecksumCRC32"] == crc32_b64(data)
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["ChecksumAlgorithm"] == ["CRC32"]


@pytest.mark.parametrize(("algorithm", "digest"), [
    ("SHA256", lambda d: hashlib.sha256(d).digest()),
    ("SHA1", lambda d: hashlib.sha1(d).digest()),
])
def test_other_checksum_algorithms(s3: Any, bucket: str, algorithm: str, digest: Any) -> None:
    data = os.urandom(70_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
    value = put[f"Checksum{algorithm}"]
    assert value == base64.b64encode(digest(data)).decode()
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == value
    assert got["Body"].read() == data


def test_crc32c_checked(s3: Any, bucket: str) -> None:
    # botocore computes CRC32C only with awscrt installed; a value given is sent as is.
    data = os.urandom(70_000)
    value = base64.b64encode(crc32.iscsi(data).to_bytes(4, "big")).decode()
    assert s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumCRC32C=value)[
        "ChecksumCRC32C"] == value
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")[
        "ChecksumCRC32C"] == value
    wrong = base64.b64encode(crc32.iscsi(b"x").to_bytes(4, "big")).decode()
    with s3_error(400, "BadDigest"):
        s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumCRC32C=wrong)


def test_wrong_checksums_and_digests_are_refused(open_platform: PlatformProcess, s3: Any,
                                                 bucket: str) -> None:
    with s3_error(400, "BadDigest"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32=crc32_b64(b"x"))
    with s3_error(400, "BadDigest"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data",
                      ChecksumSHA256=base64.b64encode(hashlib.sha256(b"x").digest()).decode())
    with s3_error(400, "BadDigest"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data",
                      ContentMD5=base64.b64encode(hashlib.md5(b"x").digest()).decode())
    with s3_error(400, "InvalidRequest"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32="abc")
    url = f"{open_platform.storage_endpoint}/{bucket}/bad"
    wrong_hash = httpx.put(url, content=b"data",
                           headers={"x-amz-content-sha256": hashlib.sha256(b"x").hexdigest()})
    assert wrong_hash.status_code == 400
    assert ET.fromstring(wrong_hash.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    with s3_error(404, "NoSuchKey"):  # nothing refused became visible
        s3.get_object(Bucket=bucket, Key="bad")


# -- aws-chunked -------------------------------------------------------------------------


class TlsFront:
    """TLS in front of the storage port (bytes passed through as they are): boto3 sends
    aws-chunked bodies with checksum trailers only over https."""

    def __init__(self, target_port: int, directory: Path) -> None:
        self.cert = directory / "cert.pem"
        key = directory / "key.pem"
        _self_signed(self.cert, key)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(self.cert, key)
        self._target = target_port
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    @property
    def endpoint(self) -> str:
        return f"https://localhost:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(
            self._connection, "127.0.0.1", self.port, ssl=self._context))
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(1 << 16):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _self_signed(cert_path: Path, key_path: Path) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


@pytest.fixture(scope="module")
def tls_front(keyed_platform: PlatformProcess,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFront]:
    front = TlsFront(keyed_platform.storage_port, tmp_path_factory.mktemp("tls"))
    yield front
    front.close()


def test_boto3_over_https_sends_aws_chunked_trailers(tls_front: TlsFront,
                                                     tmp_path: Path) -> None:
    s3 = client(tls_front.endpoint, KEY_ID, SECRET, verify=str(tls_front.cert))
    seen = sent_headers(s3)
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(2 * MB + 3)  # several 1 MB aws-chunked chunks
    put = s3.put_object(Bucket=name, Key="chunked", Body=io.BytesIO(data),
                        ContentEncoding="gzip")
    sent = seen[-1]
    assert sent["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent["content-encoding"] == "gzip,aws-chunked"
    assert sent["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert put["ChecksumCRC32"] == crc32_b64(data)
    got = s3.get_object(Bucket=name, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentEncoding"] == "gzip"  # the framing is not the object's encoding
    assert got["ChecksumCRC32"] == crc32_b64(data)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * MB))
    s3.upload_file(str(big), name, "big")  # UploadPart with trailers too
    parts = [h for h in seen if "partNumber=" in h[":url"]]
    assert len(parts) == 3
    assert all(h["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
               and h["x-amz-trailer"] == "x-amz-checksum-crc32" for h in parts)
    s3.download_file(name, "big", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == big.read_bytes()
    s3.close()


def _aws_chunked(data: bytes, *, checksum: str | None = None) -> bytes:
    """The body botocore's AwsChunkedWrapper sends, trailer value replaceable."""
    body: bytes = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                                    checksum_name="x-amz-checksum-crc32",
                                    chunk_size=1000).read()
    if checksum is not None:
        head, _, _ = body.rpartition(b"x-amz-checksum-crc32:")
        body = head + f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
    return body


def test_aws_chunked_trailer_checked(keyed_platform: PlatformProcess) -> None:
    s3 = client(keyed_platform.storage_endpoint, KEY_ID, SECRET)
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    data = os.urandom(5000)
    url = f"{keyed_platform.storage_endpoint}/{name}/k"
    headers = {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(data))}

    def put(body: bytes, **extra: str) -> httpx.Response:
        wanted = {**headers, **extra}
        signed = sign("PUT", url, headers=wanted, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        return httpx.put(url, content=body, headers=signed)

    good = put(_aws_chunked(data))
    assert good.status_code == 200, good.text
    assert good.headers["x-amz-checksum-crc32"] == crc32_b64(data)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == data
    bad = put(_aws_chunked(os.urandom(5000), checksum=crc32_b64(b"other")))
    assert bad.status_code == 400
    assert ET.fromstring(bad.content).findtext("Code") == "BadDigest"
    cut = put(_aws_chunked(data)[:3000])
    assert ET.fromstring(cut.content).findtext("Code") == "IncompleteBody"
    without = put(_aws_chunked(data).rpartition(b"x-amz-checksum-crc32:")[0])
    assert ET.fromstring(without.content).findtext("Code") == "MalformedTrailerError"
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == data  # still the good one


def test_signed_aws_chunks(keyed_platform: PlatformProcess) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD (other SDKs): each chunk's signature checked."""
    s3 = client(keyed_platform.storage_endpoint, KEY_ID, SECRET)
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    url = f"{keyed_platform.storage_endpoint}/{name}/signed"
    chunks = [os.urandom(65536), os.urandom(1000)]
    total = sum(map(len, chunks))
    headers = sign("PUT", url, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", headers={
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(total)})
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = f"AWS4{SECRET}".encode()
    for part in (amz_date[:8], REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), "sha256").digest()
    previous = headers["Authorization"].rpartition("Signature=")[2]

    def framed(tamper: bool = False) -> bytes:
        nonlocal previous
        seed = previous
        out = b""
        for data in [*chunks, b""]:
            to_sign = (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{seed}\n"
                       f"{hashlib.sha256(b'').hexdigest()}\n{hashlib.sha256(data).hexdigest()}")
            seed = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
            sent = data[:-1] + b"!" if tamper and data else data
            out += f"{len(data):x};chunk-signature={seed}\r\n".encode() + sent + b"\r\n"
        return out

    good = httpx.put(url, content=framed(), headers=headers)
    assert good.status_code == 200, good.text
    assert s3.get_object(Bucket=name, Key="signed")["Body"].read() == b"".join(chunks)
    tampered = httpx.put(url, content=framed(tamper=True), headers=headers)
    assert tampered.status_code == 403
    assert ET.fromstring(tampered.content).findtext("Code") == "SignatureDoesNotMatch"


# -- signatures and credentials ----------------------------------------------------------


def test_signatures_with_access_keys(keyed_platform: PlatformProcess, signed_s3: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    signed_s3.create_bucket(Bucket=name)
    signed_s3.put_object(Bucket=name, Key="dir/a b+c", Body=b"signed")
    assert signed_s3.get_object(Bucket=name, Key="dir/a b+c")["Body"].read() == b"signed"
    listed = signed_s3.list_objects_v2(Bucket=name, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a b+c"]
    endpoint = keyed_platform.storage_endpoint
    with s3_error(403, "SignatureDoesNotMatch"):
        client(endpoint, KEY_ID, "wrong").get_object(Bucket=name, Key="dir/a b+c")
    with s3_error(403, "403"):
        client(endpoint, KEY_ID, "wrong").head_object(Bucket=name, Key="dir/a b+c")
    with s3_error(403, "InvalidAccessKeyId"):
        client(endpoint, "AKIDUNKNOWN", SECRET).list_buckets()
    unsigned = httpx.get(f"{endpoint}/{name}/dir/a%20b%2Bc")
    assert unsigned.status_code == 403
    assert ET.fromstring(unsigned.content).findtext("Code") == "AccessDenied"
    sigv2 = httpx.get(f"{endpoint}/{name}/dir/a%20b%2Bc", params={
        "AWSAccessKeyId": KEY_ID, "Signature": "c2ln", "Expires": str(int(time.time()) + 60)})
    assert sigv2.status_code == 400
    assert ET.fromstring(sigv2.content).findtext("Code") == "InvalidRequest"
    # The body must be the one signed.
    url = f"{endpoint}/{name}/swap"
    swapped = httpx.put(url, content=b"other", headers=sign("PUT", url, body=b"signed"))
    assert ET.fromstring(swapped.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    # Clocks more than 15 minutes apart.
    skewed = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        minutes=20)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: skewed)
    with s3_error(403, "RequestTimeTooSkewed"):
        signed_s3.list_buckets()


def test_presigned_urls(keyed_platform: PlatformProcess, signed_s3: Any,
                        open_platform: PlatformProcess, s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    signed_s3.create_bucket(Bucket=name)
    put_url = signed_s3.generate_presigned_url(
        "put_object", Params={"Bucket": name, "Key": "up/loaded ü"}, ExpiresIn=300)
    assert httpx.put(put_url, content=b"via presigned PUT").status_code == 200
    get_url = signed_s3.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "up/loaded ü",
                              "ResponseContentType": "text/plain"}, ExpiresIn=300)
    got = httpx.get(get_url)
    assert (got.status_code, got.content) == (200, b"via presigned PUT")
    assert got.headers["content-type"] == "text/plain"
    tampered = httpx.get(get_url.replace("up/loaded", "up/other"))
    assert tampered.status_code == 403
    assert ET.fromstring(tampered.content).findtext("Code") == "SignatureDoesNotMatch"
    # Open store: presigned URLs of any key work, until they expire.
    other = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=other)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": other, "Key": "x"})
    assert httpx.put(url, content=b"open").status_code == 200
    assert s3.get_object(Bucket=other, Key="x")["Body"].read() == b"open"
    short = [signed_s3.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "up/loaded ü"}, ExpiresIn=1),
        s3.generate_presigned_url("get_object", Params={"Bucket": other, "Key": "x"},
                                  ExpiresIn=1)]
    time.sleep(2.1)
    for expired_url in short:
        expired = httpx.get(expired_url)
        assert expired.status_code == 403
        assert ET.fromstring(expired.content).findtext("Code") == "AccessDenied"
        assert "expired" in ET.fromstring(expired.content).findtext("Message", "")


def test_temporary_credentials(keyed_platform: PlatformProcess) -> None:
    secret = (keyed_platform.data_dir / "secret").read_bytes()
    issued = StorageKeys({KEY_ID: SECRET}, secret).issue("svc", 600)
    temporary = client(keyed_platform.storage_endpoint, issued.access_key_id,
                       issued.access_key_secret, aws_session_token=issued.security_token)
    name = f"b-{uuid.uuid4().hex[:12]}"
    temporary.create_bucket(Bucket=name)
    temporary.put_object(Bucket=name, Key="t", Body=b"temporary")
    assert temporary.get_object(Bucket=name, Key="t")["Body"].read() == b"temporary"
    url = temporary.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "t"})
    assert httpx.get(url).content == b"temporary"
    forged = client(keyed_platform.storage_endpoint, issued.access_key_id,
                    issued.access_key_secret,
                    aws_session_token=issued.security_token[:-4] + "AAAA")
    with s3_error(400, "InvalidToken"):
        forged.get_object(Bucket=name, Key="t")
    tokenless = client(keyed_platform.storage_endpoint, issued.access_key_id,
                       issued.access_key_secret)
    with s3_error(400, "InvalidToken"):
        tokenless.list_buckets()


def test_virtual_host_addressing(keyed_platform: PlatformProcess, signed_s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    direct = f"http://127.0.0.1:{keyed_platform.storage_port}"

    def send(host: str, method: str, path: str, body: bytes = b"") -> httpx.Response:
        headers = sign(method, f"http://{host}{path}", body=body)
        return httpx.request(method, f"{direct}{path}", content=body,
                             headers={**headers, "host": host})

    local = f"{name}.localhost:{keyed_platform.storage_port}"
    assert send(local, "PUT", "/").status_code == 200  # CreateBucket
    assert send(local, "PUT", "/a%20key", b"virtual").status_code == 200
    assert signed_s3.get_object(Bucket=name, Key="a key")["Body"].read() == b"virtual"
    assert send(local, "GET", "/a%20key").content == b"virtual"
    listing = ET.fromstring(send(local, "GET", "/?list-type=2").content)
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    assert [k.text for k in listing.findall("s3:Contents/s3:Key", ns)] == ["a key"]
    # Under another name, a first label that is a bucket (or one being created).
    dns = f"{name}.storage.internal:{keyed_platform.storage_port}"
    assert send(dns, "GET", "/a%20key").content == b"virtual"
    fresh = f"c-{uuid.uuid4().hex[:12]}"
    assert send(f"{fresh}.storage.internal", "PUT", "/").status_code == 200
    signed_s3.head_bucket(Bucket=fresh)
    # A name whose first label is no bucket is path style.
    assert send("storage.internal", "GET", f"/{name}/a%20key").content == b"virtual"
    # boto3's virtual addressing builds the same requests (here without DNS for the name).
    virtual = client(f"http://localhost:{keyed_platform.storage_port}", KEY_ID, SECRET,
                     config=Config(s3={"addressing_style": "virtual"}))
    request = virtual.generate_presigned_url("get_object", Params={"Bucket": name,
                                                                   "Key": "a key"})
    assert request.startswith(f"http://{local}/a%20key?")
    presigned = httpx.get(request.replace(f"http://{local}", direct), headers={"host": local})
    assert presigned.content == b"virtual"
