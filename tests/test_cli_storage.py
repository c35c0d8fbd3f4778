"""``fcompute storage mb|ls|cp|rm`` run as real subprocesses, and the SDK's StorageClient,
against the platform's object store; boto3 checks from the other side what they stored."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from fcompute.sdk import FcApiError, StorageApiError, StorageClient
from tests.conftest import unique, wait_for
from tests.platform_process import PlatformProcess, free_port
from tests.test_cli import ROOT, assert_one_line_error

MiB = 1024 * 1024
KEYS = {"FCOMPUTE_ACCESS_KEY_ID": "store-key", "FCOMPUTE_ACCESS_KEY_SECRET": "store-secret"}
StorageRun = Callable[..., subprocess.CompletedProcess[str]]


def s3_client(endpoint: str, key: str = "any", secret: str = "any") -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="local",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"}))


def runner(platform: PlatformProcess, keys: dict[str, str] | None = None) -> StorageRun:
    """``fcompute storage ARGS`` with only these FCOMPUTE_* variables, in ``cwd``."""
    def run(*args: str, stdin: bytes | None = None, cwd: Path = ROOT
            ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
        environ.update({"FCOMPUTE_STORAGE_ENDPOINT": platform.storage_endpoint, **(keys or {})})
        done = subprocess.run([sys.executable, "-m", "fcompute.cli.main", "storage", *args],
                              input=stdin, capture_output=True, env=environ, timeout=120,
                              cwd=cwd, check=False)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                           done.stderr.decode())

    return run


@pytest.fixture(scope="module")
def run(shared_platform: PlatformProcess) -> StorageRun:
    return runner(shared_platform)


@pytest.fixture(scope="module")
def s3(shared_platform: PlatformProcess) -> Any:
    return s3_client(shared_platform.storage_endpoint)


@pytest.fixture
def bucket(run: StorageRun) -> str:
    name = unique("bkt")
    made = run("mb", name)
    assert made.returncode == 0, made.stderr
    return name


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()[1:]]


def test_buckets_made_listed_and_removed(run: StorageRun, s3: Any) -> None:
    name = unique("mb")
    assert ok(run("mb", name)) == f"created bucket {name}\n"
    s3.head_bucket(Bucket=name)  # boto3 sees it
    listed = ok(run("ls"))
    assert listed.splitlines()[0].split() == ["NAME", "CREATED"]
    assert name in [row[0] for row in table(listed)]
    assert name in [b["name"] for b in json.loads(ok(run("ls", "--json")))]
    assert_one_line_error(run("mb", f"s3://{name}"), "BucketAlready")  # s3:// names it too

    assert ok(run("rm", name)) == f"deleted bucket {name}\n"
    assert name not in ok(run("ls"))
    assert_one_line_error(run("rm", name), "NoSuchBucket", f"`fcompute storage mb {name}`")


def test_cp_both_ways_keeps_bytes_type_and_metadata(
    run: StorageRun, s3: Any, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello storage\n")
    uploaded = ok(run("cp", str(source), f"{bucket}/docs/", "--meta", "owner=ann", "lang=en"))
    assert uploaded == f"uploaded {source} to {bucket}/docs/notes.txt (14 B)\n"
    stored = s3.get_object(Bucket=bucket, Key="docs/notes.txt")
    assert stored["Body"].read() == b"hello storage\n"
    assert stored["ContentType"] == "text/plain"  # guessed from the name
    assert stored["Metadata"] == {"owner": "ann", "lang": "en"}
    assert stored["ETag"].strip('"') == hashlib.md5(b"hello storage\n").hexdigest()

    target = tmp_path / "out"
    target.mkdir()
    downloaded = ok(run("cp", f"{bucket}/docs/notes.txt", f"{target}/"))
    assert downloaded == f"downloaded {bucket}/docs/notes.txt to {target / 'notes.txt'} (14 B)\n"
    assert (target / "notes.txt").read_bytes() == b"hello storage\n"
    assert [p.name for p in target.iterdir()] == ["notes.txt"]  # no partial file left

    # Bare names both sides: the source exists on disk, so it is an upload; then the other way.
    ok(run("cp", "notes.txt", f"{bucket}/renamed.txt", "--content-type", "text/markdown",
           cwd=tmp_path))
    assert s3.head_object(Bucket=bucket, Key="renamed.txt")["ContentType"] == "text/markdown"
    assert not (tmp_path / "renamed.txt").exists()
    ok(run("cp", f"{bucket}/renamed.txt", "fetched.txt", cwd=tmp_path))  # no such local file
    assert (tmp_path / "fetched.txt").read_bytes() == b"hello storage\n"
    assert ok(run("cp", f"{bucket}/renamed.txt", "-")) == "hello storage\n"  # to stdout

    piped = ok(run("cp", "-", f"{bucket}/from-stdin.bin", stdin=b"\x00\x01piped"))
    assert piped.startswith(f"uploaded - to {bucket}/from-stdin.bin (7 B)")
    assert s3.get_object(Bucket=bucket, Key="from-stdin.bin")["Body"].read() == b"\x00\x01piped"

    copied = ok(run("cp", f"s3://{bucket}/docs/notes.txt", f"s3://{bucket}/copies/"))
    assert copied == f"copied {bucket}/docs/notes.txt to {bucket}/copies/notes.txt\n"
    assert s3.get_object(Bucket=bucket, Key="copies/notes.txt")["Metadata"] == {
        "owner": "ann", "lang": "en"}


def test_cp_large_file_in_parts_with_progress(
    run: StorageRun, s3: Any, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(20 * MiB + 12345)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    up = run("cp", str(source), f"{bucket}/big.bin", "--progress")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith(f"uploaded {source} to {bucket}/big.bin (20.0 MiB in 3 parts")
    # stderr is no terminal here: --progress prints a line per tenth, to 100%.
    bars = up.stderr.splitlines()
    assert bars[0].startswith(f"{bucket}/big.bin  [")
    shares = [int(line.split("]")[1].split("%")[0]) for line in bars]
    assert shares == sorted(shares)
    assert len([share for share in shares if 0 < share < 100]) >= 5, bars
    assert shares.count(100) == 1
    assert "100%  20.0 MiB of 20.0 MiB" in bars[-1]
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")

    quiet = run("cp", str(source), f"{bucket}/again.bin", "--part-size", "5")
    assert "in 5 parts" in quiet.stdout
    assert quiet.stderr == ""  # no terminal, no --progress: no bar

    target = tmp_path / "back.bin"
    down = run("cp", f"{bucket}/big.bin", str(target), "--progress")
    assert down.returncode == 0, down.stderr
    assert "100%" in down.stderr.splitlines()[-1]
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()

    # From a pipe the size is unknown: parts as the bytes come.
    piped = run("cp", "-", f"{bucket}/piped.bin", stdin=data[:12 * MiB])
    assert "(12.0 MiB in 2 parts" in piped.stdout, piped.stderr
    body = s3.get_object(Bucket=bucket, Key="piped.bin")["Body"].read()
    assert body == data[:12 * MiB]


def test_ls_one_level_or_recursive(run: StorageRun, s3: Any, bucket: str) -> None:
    for key in ("a.txt", "photos/1.jpg", "photos/2.jpg", "photos/raw/3.jpg", "photosets.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * len(key))
    top = table(ok(run("ls", bucket)))
    assert [row[0] for row in top] == ["a.txt", "photos/", "photosets.txt"]
    assert (top[0][1], top[1][1]) == ("5", "-")
    assert [row[0] for row in table(ok(run("ls", f"{bucket}/photos/")))] == [
        "photos/1.jpg", "photos/2.jpg", "photos/raw/"]
    # A prefix is a prefix of keys, not a folder: "photos" also matches photosets.txt.
    assert [row[0] for row in table(ok(run("ls", f"s3://{bucket}/photos")))] == [
        "photos/", "photosets.txt"]
    everything = [row[0] for row in table(ok(run("ls", bucket, "--recursive")))]
    assert everything == ["a.txt", "photos/1.jpg", "photos/2.jpg", "photos/raw/3.jpg",
                          "photosets.txt"]
    listed = json.loads(ok(run("ls", f"{bucket}/photos/", "--json")))
    assert listed[0] == {"prefix": "photos/raw/"}
    assert {item["key"]: item["size"] for item in listed[1:]} == {
        "photos/1.jpg": 12, "photos/2.jpg": 12}


def test_rm_objects_prefixes_and_buckets(run: StorageRun, s3: Any, bucket: str) -> None:
    for key in ("keep.txt", "tmp/1", "tmp/2", "tmp/deep/3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert ok(run("rm", f"{bucket}/keep.txt")) == f"deleted {bucket}/keep.txt\n"
    assert_one_line_error(run("rm", f"{bucket}/keep.txt"), "NoSuchKey", f"{bucket}/keep.txt",
                          f"`fcompute storage ls {bucket}/`")
    assert_one_line_error(run("rm", f"{bucket}/tmp/"), "names no object", "--recursive")
    assert_one_line_error(run("rm", bucket), "BucketNotEmpty", "--recursive --yes")
    assert_one_line_error(run("rm", f"{bucket}/tmp/", "-r"),
                          f"refusing to delete 3 object(s) under {bucket}/tmp/ without --yes")
    deleted = ok(run("rm", f"{bucket}/tmp/", "-r", "--yes"))
    assert sorted(deleted.splitlines()) == [f"deleted {bucket}/tmp/1", f"deleted {bucket}/tmp/2",
                                            f"deleted {bucket}/tmp/deep/3"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="last", Body=b"x")
    assert_one_line_error(run("rm", bucket, "--recursive"),
                          f"1 object(s) under bucket {bucket} and then the bucket without --yes")
    assert ok(run("rm", bucket, "--recursive", "--yes")).splitlines() == [
        f"deleted {bucket}/last", f"deleted bucket {bucket}"]
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_errors_are_one_clear_line(run: StorageRun, tmp_path: Path) -> None:
    missing = unique("nobucket")
    local = tmp_path / "a.txt"
    local.write_text("a")
    assert_one_line_error(run("cp", str(local), f"{missing}/a.txt"), "NoSuchBucket", missing,
                          f"`fcompute storage mb {missing}` creates it")
    assert_one_line_error(run("ls", missing), "NoSuchBucket", missing)
    # A HEAD's 404 has no body to say which is missing: the bucket is named all the same.
    assert_one_line_error(run("cp", f"{missing}/a.txt", str(tmp_path / "b.txt")),
                          "NoSuchBucket", missing)
    assert not (tmp_path / "b.txt").exists()
    assert_one_line_error(run("cp", str(tmp_path / "nothing.txt"), "s3://x/y"),
                          "nothing.txt", "No such file")
    assert_one_line_error(run("cp", str(local), "./elsewhere.txt"),
                          "neither", "is in the store")
    assert_one_line_error(run("cp", str(tmp_path), "s3://x/"), "is a directory")
    assert_one_line_error(run("mb", "x/y"), "mb takes a bucket name")
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(run("ls", "--storage-endpoint", nowhere),
                          f"cannot reach the object store at {nowhere}")
    usage = run("cp", str(local))
    assert usage.returncode == 2


def test_download_of_a_missing_key_names_it(run: StorageRun, bucket: str, tmp_path: Path
                                            ) -> None:
    done = run("cp", f"{bucket}/no/such.txt", str(tmp_path))
    assert_one_line_error(done, "NoSuchKey", f"{bucket}/no/such.txt",
                          f"`fcompute storage ls {bucket}/` shows what is there")
    assert list(tmp_path.iterdir()) == []
    run_ok = run("cp", "-", f"{bucket}/here.txt", stdin=b"here")
    assert run_ok.returncode == 0, run_ok.stderr
    assert_one_line_error(run("cp", f"{bucket}/here.txt", str(tmp_path / "nodir" / "x.txt")),
                          f"{tmp_path / 'nodir'} is not a directory")


def test_keys_sign_requests(make_platform: Any, tmp_path: Path) -> None:
    platform: PlatformProcess = make_platform(env=KEYS)
    signed = runner(platform, KEYS)
    name = unique("signed")
    ok(signed("mb", name))
    local = tmp_path / "x.bin"
    local.write_bytes(os.urandom(9 * MiB))  # a signed multipart upload too
    assert "in 2 parts" in ok(signed("cp", str(local), f"{name}/x.bin"))
    assert name in ok(signed("ls"))
    wrong = runner(platform, {**KEYS, "FCOMPUTE_ACCESS_KEY_SECRET": "not-it"})
    assert_one_line_error(wrong("ls", name), "SignatureDoesNotMatch")
    unsigned = runner(platform)
    assert_one_line_error(unsigned("ls", name), "AccessDenied")
    assert_one_line_error(runner(platform, {"FCOMPUTE_ACCESS_KEY_ID": "only-id"})("ls"),
                          "set both FCOMPUTE_ACCESS_KEY_ID and FCOMPUTE_ACCESS_KEY_SECRET")
    s3 = s3_client(platform.storage_endpoint, "store-key", "store-secret")
    assert s3.get_object(Bucket=name, Key="x.bin")["Body"].read() == local.read_bytes()


ODD_KEYS = ["with space/ü+plus&amp=eq?.txt", "a/../b", "./dot", "x//double", "~tilde*star"]


@pytest.mark.parametrize("signed", [False, True], ids=["open", "signed"])
def test_sdk_storage_client(make_platform: Any, signed: bool, tmp_path: Path) -> None:
    platform: PlatformProcess = make_platform(env=KEYS if signed else None)
    keys = (KEYS["FCOMPUTE_ACCESS_KEY_ID"], KEYS["FCOMPUTE_ACCESS_KEY_SECRET"]) if signed else (
        None, None)
    s3 = s3_client(platform.storage_endpoint, "store-key", "store-secret")
    with StorageClient(platform.storage_endpoint, *keys) as store:
        name = unique("sdk")
        store.create_bucket(name)
        assert store.bucket_exists(name)
        assert not store.bucket_exists(unique("absent"))
        assert name in [b.name for b in store.list_buckets()]

        for key in ODD_KEYS:  # the path encoding, and the signature over it
            etag = store.put_object(name, key, key.encode(), content_type="text/x-odd",
                                    metadata={"Who": "sdk"})
            assert etag == hashlib.md5(key.encode()).hexdigest()
            assert s3.get_object(Bucket=name, Key=key)["Body"].read() == key.encode()
            assert store.get_object(name, key) == key.encode()
        info = store.head_object(name, ODD_KEYS[0])
        assert (info.size, info.content_type, info.metadata) == (
            len(ODD_KEYS[0].encode()), "text/x-odd", {"who": "sdk"})

        page = store.list_objects(name, max_keys=2)
        assert (page.truncated, bool(page.next_token), len(page.objects)) == (True, True, 2)
        assert sorted(o.key for o in store.iter_objects(name)) == sorted(ODD_KEYS)
        assert store.list_objects(name, prefix="a/", delimiter="/").prefixes == ["a/../"]

        assert store.copy_object(name, ODD_KEYS[0], name, "copied") == info.etag
        assert store.head_object(name, "copied").metadata == {"who": "sdk"}

        upload_id = store.create_multipart_upload(name, "parts.bin")
        first, second = os.urandom(5 * MiB), b"tail"
        parts = [(1, store.upload_part(name, "parts.bin", upload_id, 1, first)),
                 (2, store.upload_part(name, "parts.bin", upload_id, 2, second))]
        assert store.complete_multipart_upload(name, "parts.bin", upload_id, parts).endswith("-2")
        seen: list[int] = []
        target = tmp_path / "parts.bin"
        assert store.download_file(name, "parts.bin", target, progress=seen.append).multipart
        assert target.read_bytes() == first + second
        assert sum(seen) == len(first) + len(second)

        with pytest.raises(StorageApiError) as missing:
            store.head_object(name, "nothing")
        assert (missing.value.status, missing.value.code) == (404, "NoSuchKey")
        with pytest.raises(FcApiError) as not_empty:  # one except clause for both APIs
            store.delete_bucket(name)
        assert not_empty.value.code == "BucketNotEmpty"
        for summary in list(store.iter_objects(name)):
            store.delete_object(name, summary.key)
        store.delete_bucket(name)
        assert not store.bucket_exists(name)


def test_interrupted_upload_is_aborted(shared_platform: PlatformProcess, s3: Any, bucket: str
                                       ) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPUTE_")}
    environ["FCOMPUTE_STORAGE_ENDPOINT"] = shared_platform.storage_endpoint
    with subprocess.Popen(
        [sys.executable, "-m", "fcompute.cli.main", "storage", "cp", "-", f"{bucket}/cut.bin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ,
        cwd=ROOT,
    ) as upload:
        try:
            assert upload.stdin is not None
            upload.stdin.write(os.urandom(12 * MiB))  # past the threshold: a multipart upload
            upload.stdin.flush()
            assert wait_for(lambda: bool(s3.list_multipart_uploads(Bucket=bucket).get("Uploads")),
                            timeout=20)
            upload.send_signal(signal.SIGINT)  # Ctrl-C while it waits for more of the pipe
            _, stderr = upload.communicate(timeout=20)
            assert upload.returncode == 130, stderr
        finally:
            if upload.poll() is None:
                upload.kill()
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # aborted: parts gone
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
