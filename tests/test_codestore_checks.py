"""Code packages are verified when uploaded: a zip that could not be unpacked exactly as it
claims is refused with a 400 (or 413 for size) naming the entry, never stored to fail every
cold start later."""

from __future__ import annotations

import base64
import bz2
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from fcompute.codestore.local import LocalCodeStore
from tests import hostile_zips as hz
from tests.conftest import API, assert_fc_error, make_zip, unique
from tests.platform_process import PlatformProcess

HANDLER = "def handler(event, context):\n    return 'ok'\n"
INDEX = hz.file("index.py", HANDLER)


def with_index(*entries: hz.RawEntry) -> bytes:
    return hz.build([INDEX, *entries])


def bad_crc() -> bytes:
    return with_index(hz.file("data.txt", b"hello", crc=0x12345678))


def size_lie() -> bytes:
    # Declares 1,000 bytes and inflates to 5,000 (the CRC is that of the 5,000).
    return with_index(hz.deflated("data.txt", b"x" * 5000, file_size=1000))


def stealth_size_lie() -> bytes:
    # The same with the CRC of the first 1,000 bytes: a reader that trusts the header stops
    # there, finds the CRC right and silently keeps a truncated file.
    plain = b"x" * 5000
    return with_index(hz.deflated("data.txt", plain, file_size=1000,
                                  crc=zlib.crc32(plain[:1000])))


def short_size_lie() -> bytes:
    return with_index(hz.file("data.txt", b"abc", file_size=10))


def stored_size_lie() -> bytes:
    return with_index(hz.file("data.txt", b"x" * 100, file_size=10))


def deep_path() -> bytes:
    return with_index(hz.file("d/" * 1500 + "f.py", b"x = 1\n"))


def long_path() -> bytes:
    return with_index(hz.file("/".join(["p" * 200] * 20) + "/f.py", b"x = 1\n"))


# (label, zip bytes, status, error code, words the message must hold)
CASES: list[tuple[str, Any, int, str, tuple[str, ...]]] = [
    ("bad crc", bad_crc, 400, "InvalidArgument", ("data.txt", "CRC")),
    ("size lies (longer)", size_lie, 400, "InvalidArgument",
     ("data.txt", "declares 1000 bytes but inflates to more")),
    ("size lies (longer, CRC of the declared part)", stealth_size_lie, 400, "InvalidArgument",
     ("data.txt", "declares 1000 bytes but inflates to more")),
    ("size lies (shorter)", short_size_lie, 400, "InvalidArgument",
     ("data.txt", "declares 10 bytes but holds 3")),
    ("size lies (stored)", stored_size_lie, 400, "InvalidArgument",
     ("data.txt", "declares 10 bytes but inflates to more")),
    ("encrypted", lambda: with_index(hz.file("secret.py", b"x", flags=hz.FLAG_ENCRYPTED)),
     400, "InvalidArgument", ("secret.py", "encrypted")),
    ("deflate64", lambda: with_index(hz.file("big.bin", b"x", method=9)),
     400, "InvalidArgument", ("big.bin", "compression method 9")),
    ("aes", lambda: with_index(hz.file("aes.bin", b"x", method=99)),
     400, "InvalidArgument", ("aes.bin", "compression method 99")),
    ("corrupt deflate", lambda: with_index(hz.file("z.bin", b"\xff\xff\xff", method=8,
                                                   plain=b"abc")),
     400, "InvalidArgument", ("z.bin",)),
    ("file then entry below it", lambda: with_index(hz.file("a", b"1"), hz.file("a/b", b"2")),
     400, "InvalidArgument", ("a/b", "'a'")),
    ("entry below a file listed later", lambda: with_index(hz.file("a/b", b"2"),
                                                           hz.file("a", b"1")),
     400, "InvalidArgument", ("'a'",)),
    ("directory and file of one name", lambda: with_index(hz.directory("a/"), hz.file("a", b"1")),
     400, "InvalidArgument", ("'a'",)),
    ("duplicate file", lambda: with_index(hz.file("dup.py", b"1"), hz.file("dup.py", b"2")),
     400, "InvalidArgument", ("dup.py", "more than once")),
    ("duplicate through ./", lambda: with_index(hz.file("dup.py", b"1"), hz.file("./dup.py", b"2")),
     400, "InvalidArgument", ("dup.py", "more than once")),
    ("symlink target not utf-8", lambda: with_index(hz.symlink("l", b"\xff\xfe")),
     400, "InvalidArgument", ("'l'", "UTF-8")),
    ("symlink target with NUL", lambda: with_index(hz.symlink("l", b"a\x00b")),
     400, "InvalidArgument", ("'l'", "NUL")),
    ("symlink target empty", lambda: with_index(hz.symlink("l", b"")),
     400, "InvalidArgument", ("'l'", "empty")),
    ("symlink over a directory entry", lambda: with_index(hz.symlink("d", "x"),
                                                          hz.directory("d/")),
     400, "InvalidArgument", ("'d'", "symbolic link")),
    ("directory entry, then symlink", lambda: with_index(hz.directory("d/"),
                                                         hz.symlink("d", "x")),
     400, "InvalidArgument", ("'d'", "symbolic link")),
    ("entry below a symlink", lambda: with_index(hz.symlink("d", "/etc"), hz.file("d/f", b"1")),
     400, "InvalidArgument", ("d/f", "below a symbolic link")),
    ("symlink over entries listed before", lambda: with_index(hz.file("d/f", b"1"),
                                                              hz.symlink("d", "/etc")),
     400, "InvalidArgument", ("'d'", "symbolic link over a directory")),
    ("300-character name", lambda: with_index(hz.file("n" * 300 + ".py", b"1")),
     400, "InvalidArgument", ("255",)),
    ("1,500 levels deep", deep_path, 400, "InvalidArgument", ("1501", "128")),
    ("path over 3,072 bytes", long_path, 400, "InvalidArgument", ("3072",)),
    ("absolute path", lambda: with_index(hz.file("/etc/x", b"1")),
     400, "InvalidArgument", ("/etc/x", "outside")),
    ("dot-dot", lambda: with_index(hz.file("a/../../x", b"1")),
     400, "InvalidArgument", ("a/../../x", "outside")),
    ("not a zip", lambda: b"PK\x03\x04 not really", 400, "InvalidArgument", ("zip",)),
]


def create(platform: PlatformProcess, service: str, name: str, zipped: bytes) -> httpx.Response:
    body = {"functionName": name, "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": base64.b64encode(zipped).decode()}}
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions",
                      content=json.dumps(body).encode(),
                      headers={"content-type": "application/json"}, timeout=120)


def update(platform: PlatformProcess, service: str, name: str, zipped: bytes) -> httpx.Response:
    body = {"code": {"zipFile": base64.b64encode(zipped).decode()}}
    return httpx.put(f"{platform.endpoint}{API}/services/{service}/functions/{name}",
                     content=json.dumps(body).encode(),
                     headers={"content-type": "application/json"}, timeout=120)


def invoke(platform: PlatformProcess, service: str, name: str) -> httpx.Response:
    return httpx.post(f"{platform.endpoint}{API}/services/{service}/functions/{name}/invocations",
                      content=b"", timeout=60)


@pytest.fixture(scope="module")
def service(shared_platform: PlatformProcess) -> str:
    name = unique("svc")
    response = httpx.post(f"{shared_platform.endpoint}{API}/services",
                          json={"serviceName": name}, timeout=10)
    assert response.status_code == 200, response.text
    return name


@pytest.mark.parametrize(("label", "build", "status", "code", "words"), CASES,
                         ids=[case[0] for case in CASES])
def test_hostile_zip_is_refused_at_upload(
    shared_platform: PlatformProcess, service: str, label: str, build: Any, status: int,
    code: str, words: tuple[str, ...],
) -> None:
    zipped = build()
    name = unique("fn")
    body = assert_fc_error(create(shared_platform, service, name, zipped), status, code)
    for word in words:
        assert word in body["ErrorMessage"], body
    # Updating a working function to the same package is refused the same way, and the
    # function keeps running its previous code.
    good = unique("fn")
    assert create(shared_platform, service, good, make_zip({"index.py": HANDLER})
                  ).status_code == 200
    assert_fc_error(update(shared_platform, service, good, zipped), status, code)
    answer = invoke(shared_platform, service, good)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"ok"


def bzip2_bomb(name: str, real_size: int, declared_size: int) -> hz.RawEntry:
    packer = bz2.BZ2Compressor(9)
    chunk = bytes(1024 * 1024)
    crc = 0
    parts = []
    for _ in range(real_size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
        parts.append(packer.compress(chunk))
    parts.append(packer.flush())
    return hz.RawEntry(name.encode(), b"".join(parts), method=12, crc=crc,
                       file_size=declared_size)


def test_bombs_are_refused_without_inflating_them(
    shared_platform: PlatformProcess, service: str
) -> None:
    # 1.1 GB of zeros whose headers declare 1,000 bytes: the headers pass any size check;
    # only what really inflates shows the lie, and inflating stops right there.
    zipped = with_index(hz.deflate_bomb("zeros.bin", 1100 * 1024 * 1024, 1000))
    assert len(zipped) < 8 * 1024 * 1024
    body = assert_fc_error(create(shared_platform, service, unique("fn"), zipped), 400,
                           "InvalidArgument")
    assert "'zeros.bin' declares 1000 bytes but inflates to more" in body["ErrorMessage"]
    # bzip2: 177 bytes that inflate to 200 MB in one unbounded decompressor call.
    zipped = with_index(bzip2_bomb("zeros.bz", 200 * 1024 * 1024, 1000))
    body = assert_fc_error(create(shared_platform, service, unique("fn"), zipped), 400,
                           "InvalidArgument")
    assert "'zeros.bz' declares 1000 bytes but inflates to more" in body["ErrorMessage"]
    # Nothing is left behind: no staging directory, no zip.
    code_dir = shared_platform.data_dir / "code"
    assert not [p for p in (code_dir / "trees").iterdir() if p.name.startswith(".")]
    assert not [p for p in (code_dir / "zips").iterdir() if p.name.startswith(".")]


def test_packages_over_the_unpacked_cap_are_413(
    shared_platform: PlatformProcess, service: str
) -> None:
    # Two entries that declare 300 MB each: refused before anything is inflated.
    zipped = with_index(hz.file("a.bin", b"x", file_size=300 * 1024 * 1024),
                        hz.file("b.bin", b"x", file_size=300 * 1024 * 1024))
    body = assert_fc_error(create(shared_platform, service, unique("fn"), zipped), 413,
                           "EntityTooLarge")
    assert f"at most {500 * 1024 * 1024}" in body["ErrorMessage"]


def test_packages_that_were_refused_before_still_work(
    shared_platform: PlatformProcess, service: str
) -> None:
    # Directories listed before and after their files, an explicit "./", a symlink to a
    # file and one to a directory, an executable script, a cp437 (non-UTF-8 flagged) name.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/", "")
        archive.writestr("pkg/mod.py", "VALUE = 'from pkg'\n")
        archive.writestr("lib/deep/x.txt", "deep")
        archive.writestr("lib/", "")
        archive.writestr("index.py",
                         "import os\nfrom pkg import mod\n"
                         "def handler(event, context):\n"
                         "    with open('alias/deep/x.txt') as f:\n"
                         "        deep = f.read()\n"
                         "    with open('link.py') as f:\n"
                         "        link = f.readline().strip()\n"
                         "    run = os.access('run.sh', os.X_OK)\n"
                         "    return f'{mod.VALUE}:{deep}:{link}:{run}'\n")
        script = zipfile.ZipInfo("run.sh")
        script.external_attr = (0o100755) << 16
        archive.writestr(script, "#!/bin/sh\necho hi\n")
        for name, target in (("alias", "lib"), ("link.py", "pkg/mod.py")):
            link = zipfile.ZipInfo(name)
            link.external_attr = (0o120777) << 16
            archive.writestr(link, target)
    name = unique("fn")
    response = create(shared_platform, service, name, buffer.getvalue())
    assert response.status_code == 200, response.text
    answer = invoke(shared_platform, service, name)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"from pkg:deep:VALUE = 'from pkg':True"


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors after each entry."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


def written_by_zipfile(method: int, *, streamed: bool = False, zip64: bool = False) -> bytes:
    target: Any = Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w", method) as archive:
        archive.writestr("index.py", HANDLER)
        archive.writestr("empty.txt", "")
        with archive.open("zeros.bin", "w", force_zip64=zip64) as out:
            for _ in range(12):  # 12 MB that compress to almost nothing: many chunks
                out.write(bytes(1024 * 1024))
        archive.writestr("random.bin", os.urandom(3 * 1024 * 1024 + 17))
    return bytes(target.data) if streamed else target.getvalue()


@pytest.mark.parametrize(("method", "streamed", "zip64"), [
    (zipfile.ZIP_STORED, False, False),
    (zipfile.ZIP_DEFLATED, False, False),
    (zipfile.ZIP_DEFLATED, True, False),
    (zipfile.ZIP_DEFLATED, False, True),
    (zipfile.ZIP_BZIP2, False, False),
    (zipfile.ZIP_LZMA, True, False),
])
def test_zips_as_tools_write_them_unpack_exactly(
    tmp_path: Path, method: int, streamed: bool, zip64: bool
) -> None:
    zipped = written_by_zipfile(method, streamed=streamed, zip64=zip64)
    store = LocalCodeStore(tmp_path)
    tree = store.extracted(store.put(zipped).digest)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        for info in archive.infolist():
            assert (tree / info.filename).read_bytes() == archive.read(info), info.filename


def test_an_empty_zip_is_a_package_with_no_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    store = LocalCodeStore(tmp_path)
    assert list(store.extracted(store.put(buffer.getvalue()).digest).iterdir()) == []
