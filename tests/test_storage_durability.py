"""A platform killed mid-upload: what was acknowledged is there, what was not is not, and
the upload's leftovers are gone after the restart."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.platform_process import PlatformProcess


def test_a_kill_mid_upload_leaves_the_old_object_and_no_leftovers(tmp_path: Path) -> None:
    platform = PlatformProcess(tmp_path / "data", "--sandbox", "process").start()
    try:
        s3 = boto3.client("s3", endpoint_url=platform.storage_endpoint, region_name="local",
                          aws_access_key_id="any", aws_secret_access_key="any")
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="done.bin", Body=b"acknowledged" * 1000)
        s3.put_object(Bucket="keep", Key="replaced.bin", Body=b"old")
        staging = tmp_path / "data" / "storage" / "tmp"
        # Two uploads cut off by the kill: a new key, and a replacement of an existing one.
        senders = []
        for key in ("half.bin", "replaced.bin"):
            sender = socket.create_connection(("127.0.0.1", platform.storage_port))
            sender.sendall((f"PUT /keep/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Content-Length: 20000000\r\n\r\n").encode())
            sender.sendall(b"x" * 5_000_000)
            senders.append(sender)
        deadline = time.monotonic() + 10
        while len(list(staging.iterdir())) < 2:  # both are being written
            assert time.monotonic() < deadline, list(staging.iterdir())
            time.sleep(0.05)
        platform.stop(signal.SIGKILL)
        for sender in senders:
            sender.close()
        assert len(list(staging.iterdir())) >= 2  # what the crash left behind

        platform.start()
        assert list(staging.iterdir()) == []  # cleaned at start
        s3 = boto3.client("s3", endpoint_url=platform.storage_endpoint, region_name="local",
                          aws_access_key_id="any", aws_secret_access_key="any")
        body = s3.get_object(Bucket="keep", Key="done.bin")["Body"].read()
        assert body == b"acknowledged" * 1000
        assert s3.get_object(Bucket="keep", Key="replaced.bin")["Body"].read() == b"old"
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket="keep", Key="half.bin")
        assert missing.value.response["Error"]["Code"] in ("404", "NoSuchKey")
        listed = s3.list_objects_v2(Bucket="keep")
        assert sorted(o["Key"] for o in listed["Contents"]) == ["done.bin", "replaced.bin"]
    finally:
        platform.stop()
