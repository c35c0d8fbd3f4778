"""Unpacks a code zip into a directory, verifying what the data really holds.

Names and clashes are decided first from the listing (``entries.py``). Then every entry is
inflated chunk by chunk (``inflate.py``): its real size must equal the declared one and its
CRC-32 must match, and the running total of real bytes is held to the cap, so a package
that lies is refused as soon as the lie shows while memory holds one chunk at a time.
Symbolic links are created last, after every file, so nothing is ever written through one.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO, Protocol

from fcompute.codestore.entries import MAX_LINK_TARGET_BYTES, Entry, Kind, plan, refuse
from fcompute.codestore.inflate import read_entry
from fcompute.errors import EntityTooLarge, InvalidArgument


class Unpacker(Protocol):
    """Writes the verified contents of ``zip_path`` into the empty directory ``dest``."""

    def __call__(self, zip_path: Path, dest: Path, max_bytes: int) -> None: ...


class _Budget:
    """Real bytes written so far against the cap (header sizes are checked separately)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def spend(self, size: int, entry: Entry) -> None:
        self.used += size
        if self.used > self.max_bytes:
            raise EntityTooLarge(
                f"code unpacks to more than {self.max_bytes} bytes (passed while inflating "
                f"entry {entry.info.filename!r})"
            )


def _declared_total(entries: list[Entry], max_bytes: int) -> None:
    # Honest headers are held to their word by read_entry, so the sum refuses a package
    # that is simply too big before anything is inflated.
    total = sum(e.info.file_size for e in entries)
    if total > max_bytes:
        raise EntityTooLarge(f"code unpacks to {total} bytes, at most {max_bytes} allowed")


def _write_file(source: BinaryIO, entry: Entry, target: Path, budget: _Budget) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in read_entry(source, entry.info):
            budget.spend(len(chunk), entry)
            out.write(chunk)
    # Keep the executable bit of scripts; never keep write, setuid or sticky bits.
    os.chmod(target, (entry.mode & 0o555) | 0o444)


def _link_target(source: BinaryIO, entry: Entry, budget: _Budget) -> str:
    name = entry.info.filename
    if entry.info.file_size > MAX_LINK_TARGET_BYTES:
        raise refuse(name, f"is a symbolic link whose target is longer than "
                           f"{MAX_LINK_TARGET_BYTES} bytes")
    raw = b""
    for chunk in read_entry(source, entry.info):  # stops past file_size, so at 4 KB
        budget.spend(len(chunk), entry)
        raw += chunk
    if not raw:
        raise refuse(name, "is a symbolic link with an empty target")
    if b"\x00" in raw:
        raise refuse(name, "is a symbolic link whose target holds a NUL byte")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse(name, "is a symbolic link whose target is not valid UTF-8") from None


def _open_archive(source: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, UnicodeDecodeError, EOFError, struct.error, ValueError,
            NotImplementedError, OverflowError) as exc:
        raise InvalidArgument(f"code.zipFile is not a valid zip archive: {exc}") from None


def unpack_zip(zip_path: Path, dest: Path, max_bytes: int) -> None:
    """Writes the verified contents of ``zip_path`` into the empty directory ``dest``.

    Raises InvalidArgument (naming the entry) when the zip cannot be unpacked exactly as
    it claims, EntityTooLarge when it declares or really inflates to more than
    ``max_bytes``. Files end up read-only (executable bits kept), directories 0555. On
    error ``dest`` is left partly written for the caller to remove.
    """
    with open(zip_path, "rb") as source:
        with _open_archive(source) as archive:
            entries = plan(archive.infolist())
        _declared_total(entries, max_bytes)
        budget = _Budget(max_bytes)
        links: list[tuple[Path, str]] = []
        # In the order the data lies in the file: one pass over the disk.
        for entry in sorted(entries, key=lambda e: e.info.header_offset):
            target = dest / entry.path
            if entry.kind is Kind.DIRECTORY:
                target.mkdir(parents=True, exist_ok=True)
            elif entry.kind is Kind.FILE:
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_file(source, entry, target, budget)
            else:
                links.append((target, _link_target(source, entry, budget)))
    # Links last: ``plan`` refused entries below a link, and none is ever followed here.
    # Their targets are only read by the instance, which sees what its sandbox lets it see.
    for target, link_target in links:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link_target, target)
    for directory, _dirs, _files in os.walk(dest):
        os.chmod(directory, 0o555)
