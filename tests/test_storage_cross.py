"""One store, two APIs: what boto3 writes, oss2 reads, and the other way round."""

from __future__ import annotations

from typing import Any

import boto3
import oss2

from tests.conftest import unique
from tests.platform_process import PlatformProcess


def clients(platform: PlatformProcess, bucket: str) -> tuple[Any, oss2.Bucket]:
    s3 = boto3.client("s3", endpoint_url=platform.storage_endpoint, region_name="local",
                      aws_access_key_id="any", aws_secret_access_key="any")
    return s3, oss2.Bucket(oss2.Auth("any", "any"), platform.storage_endpoint, bucket)


def test_objects_written_by_one_api_read_the_same_through_the_other(
        shared_platform: PlatformProcess) -> None:
    bucket = unique("cross")
    s3, oss = clients(shared_platform, bucket)
    s3.create_bucket(Bucket=bucket)
    data = bytes(range(256)) * 4096  # 1 MiB
    s3.put_object(Bucket=bucket, Key="from-s3/a.bin", Body=data,
                  ContentType="application/x-test", Metadata={"origin": "boto3"})
    read = oss.get_object("from-s3/a.bin")
    assert read.read() == data
    assert read.content_type == "application/x-test"
    assert read.headers["x-oss-meta-origin"] == "boto3"

    oss.put_object("from-oss/b.txt", b"written by oss2",
                   headers={"Content-Type": "text/plain", "x-oss-meta-origin": "oss2"})
    got = s3.get_object(Bucket=bucket, Key="from-oss/b.txt")
    assert got["Body"].read() == b"written by oss2"
    assert (got["ContentType"], got["Metadata"]) == ("text/plain", {"origin": "oss2"})
    # The same ETag through both (the MD5 of the bytes; OSS writes it in upper case).
    head = s3.head_object(Bucket=bucket, Key="from-s3/a.bin")
    assert head["ETag"].strip('"').upper() == oss.head_object("from-s3/a.bin").etag.upper()

    # A multipart object assembled through OSS lists and reads back through S3.
    upload = oss.init_multipart_upload("joined.bin").upload_id
    parts = [oss2.models.PartInfo(n, oss.upload_part("joined.bin", upload, n,
                                                     bytes([n]) * 200_000).etag)
             for n in (1, 2)]
    oss.complete_multipart_upload("joined.bin", upload, parts)
    whole = s3.get_object(Bucket=bucket, Key="joined.bin")
    assert whole["Body"].read() == b"\x01" * 200_000 + b"\x02" * 200_000
    assert whole["ETag"].strip('"').endswith("-2")
    listed = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in listed["Contents"]] == ["joined.bin"]
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["from-oss/", "from-s3/"]
