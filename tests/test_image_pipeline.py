"""The image pipeline of examples/image-pipeline, end to end: deployed by its own script,
pictures uploaded with boto3 and with oss2, thumbnails fetched through the HTTP function,
and a corrupt picture becoming a failed async invocation with its error in the record."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
import oss2
import pytest
from PIL import Image

from tests.conftest import API
from tests.platform_process import PlatformProcess

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "image-pipeline"
SERVICE = "images"
T = TypeVar("T")


def poll(find: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    platform = PlatformProcess(tmp_path_factory.mktemp("pipeline") / "data").start()
    env = {**os.environ, "FCOMPUTE_ENDPOINT": platform.endpoint,
           "FCOMPUTE_STORAGE_ENDPOINT": platform.storage_endpoint,
           "FCOMPUTE": str(Path(sys.executable).parent / "fcompute"),
           "PYTHON": sys.executable}
    env = {k: v for k, v in env.items()
           if not k.startswith("FCOMPUTE_ACCESS_KEY")}
    deployed = subprocess.run([str(EXAMPLE / "deploy.sh")], env=env, capture_output=True,
                              text=True, timeout=600, check=False)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    yield platform
    platform.stop()


def picture(size: tuple[int, int], kind: str) -> bytes:
    image = Image.new("RGB", size, (200, 30, 90))
    for x in range(0, size[0], 7):  # some detail, so the encoder has real work
        image.putpixel((x, x * size[1] // size[0]), (0, 255, 0))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def thumbnail(platform: PlatformProcess, key: str) -> httpx.Response:
    url = f"{platform.endpoint}{API}/proxy/{SERVICE}/gallery/{key}"

    def ready() -> httpx.Response | None:
        answer = httpx.get(url, timeout=30)
        return answer if answer.status_code == 200 else None

    return poll(ready, timeout=60)


def records(platform: PlatformProcess) -> list[dict[str, Any]]:
    answer = httpx.get(f"{platform.endpoint}{API}/services/{SERVICE}/functions/thumbnailer/"
                       "stateful-async-invocations?includePayload=true", timeout=30)
    answer.raise_for_status()
    listed: list[dict[str, Any]] = answer.json()["invocations"]
    return listed


def test_a_picture_uploaded_with_boto3_gets_its_thumbnail(pipeline: PlatformProcess) -> None:
    s3 = boto3.client("s3", endpoint_url=pipeline.storage_endpoint, region_name="local",
                      aws_access_key_id="any", aws_secret_access_key="any")
    s3.put_object(Bucket="uploads", Key="holiday/beach.jpg", Body=picture((640, 480), "JPEG"),
                  ContentType="image/jpeg")
    answer = thumbnail(pipeline, "holiday/beach.jpg")
    assert answer.headers["content-type"] == "image/jpeg"
    made = Image.open(io.BytesIO(answer.content))
    assert (made.format, made.size) == ("JPEG", (128, 96))  # the shape kept


def test_a_picture_uploaded_with_oss2_gets_its_thumbnail(pipeline: PlatformProcess) -> None:
    uploads = oss2.Bucket(oss2.Auth("any", "any"), pipeline.storage_endpoint, "uploads")
    uploads.put_object("tall.png", picture((300, 600), "PNG"))
    answer = thumbnail(pipeline, "tall.png")
    assert answer.headers["content-type"] == "image/png"
    made = Image.open(io.BytesIO(answer.content))
    assert (made.format, made.size) == ("PNG", (64, 128))


def test_other_files_do_not_fire_and_a_corrupt_picture_fails_in_its_record(
        pipeline: PlatformProcess) -> None:
    uploads = oss2.Bucket(oss2.Auth("any", "any"), pipeline.storage_endpoint, "uploads")
    uploads.put_object("notes.txt", b"not a picture, and not a .jpg: no trigger fires")
    uploads.put_object("broken.jpg", b"\xff\xd8 this is not really a JPEG")

    def failed() -> dict[str, Any] | None:
        for record in records(pipeline):
            if record["status"] == "Failed":
                return record
        return None

    record = poll(failed, timeout=60)
    assert record["error"]["errorType"] == "UnidentifiedImageError", record
    assert "broken.jpg" in record["invocationPayload"]
    assert not any("notes.txt" in r.get("invocationPayload", "") for r in records(pipeline))
    gone = httpx.get(f"{pipeline.endpoint}{API}/proxy/{SERVICE}/gallery/broken.jpg", timeout=30)
    assert gone.status_code == 404
