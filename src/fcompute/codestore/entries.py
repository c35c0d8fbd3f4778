"""What a code zip may hold, decided from its central directory before anything is written.

``plan`` turns the archive's entries into the files, directories and symbolic links of the
tree, or refuses the package with an error naming the entry. Everything that could make
unpacking fail, or make it produce something other than the listing says, is refused
here: names that escape, clash or exceed the file system's limits, encryption, and
compression methods the standard library cannot inflate. What only the data can tell
(real sizes, CRCs, symbolic link targets) is checked while unpacking (``unpack.py``).

Example::

    >>> [e.path for e in plan(zipfile.ZipFile("code.zip").infolist())]
    ['index.py', 'lib', 'lib/util.py']
"""

from __future__ import annotations

import enum
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from fcompute.errors import EntityTooLarge, InvalidArgument

# NAME_MAX of Linux file systems: a longer component cannot be created at all.
MAX_NAME_COMPONENT_BYTES = 255
# PATH_MAX is 4096 for a whole path; a quarter is left for where the tree lives on the host
# (the data directory) and in the instance (/code).
MAX_PATH_BYTES = 3072
MAX_PATH_DEPTH = 128
MAX_ENTRIES = 200_000
# A symbolic link target is a path too (readlink answers at most PATH_MAX - 1 bytes).
MAX_LINK_TARGET_BYTES = 4095

_FLAG_ENCRYPTED = 0x1
_FLAG_PATCHED_DATA = 0x20
_FLAG_STRONG_ENCRYPTION = 0x40


# What inflate.py reads. Deflate64 (9), AES (99), PPMd (98) and the rest are refused.
SUPPORTED_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}


class Kind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symbolic link"


@dataclass(frozen=True)
class Entry:
    info: zipfile.ZipInfo
    path: str  # relative, "/"-separated, normalised: no "", "." or trailing "/"
    kind: Kind
    mode: int  # permission bits from the zip (0 when the zip has none)


def refuse(name: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"code zip entry {name!r} {problem}")


def _parts(info: zipfile.ZipInfo) -> list[str]:
    name = info.filename
    if name.startswith("/"):
        raise refuse(name, "points outside the code directory (absolute path)")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise refuse(name, "points outside the code directory ('..')")
    for part in parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > MAX_NAME_COMPONENT_BYTES:
            raise refuse(name, f"has a name component of {size} bytes; at most "
                               f"{MAX_NAME_COMPONENT_BYTES} bytes are allowed per component")
    if len(parts) > MAX_PATH_DEPTH:
        raise refuse(name[:80] + "...", f"is {len(parts)} levels deep; at most "
                                        f"{MAX_PATH_DEPTH} levels are allowed")
    size = len("/".join(parts).encode("utf-8", "surrogateescape"))
    if size > MAX_PATH_BYTES:
        raise refuse(name[:80] + "...", f"has a path of {size} bytes; at most "
                                        f"{MAX_PATH_BYTES} bytes are allowed")
    return parts


def _readable(info: zipfile.ZipInfo) -> None:
    if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        raise refuse(info.filename, "is encrypted; upload an unencrypted zip")
    if info.flag_bits & _FLAG_PATCHED_DATA:
        raise refuse(info.filename, "holds compressed patched data, which cannot be unpacked")
    if info.compress_type not in SUPPORTED_METHODS:
        names = ", ".join(f"{n} ({m})" for m, n in sorted(SUPPORTED_METHODS.items()))
        raise refuse(info.filename, f"uses compression method {info.compress_type}, which "
                                    f"cannot be unpacked; supported: {names}")


def _kind(info: zipfile.ZipInfo) -> Kind:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return Kind.SYMLINK
    return Kind.DIRECTORY if info.filename.endswith("/") else Kind.FILE


class _Layout:
    """The tree the entries describe, to find clashes whatever order the entries come in."""

    def __init__(self) -> None:
        self._explicit: dict[str, Kind] = {}
        self._implied: set[str] = set()  # directories that hold entries

    def add(self, path: str, kind: Kind, name: str) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            held = self._explicit.get(parent)
            if held is Kind.SYMLINK:
                raise refuse(name, f"lies below a symbolic link ({parent!r})")
            if held is Kind.FILE:
                raise refuse(name, f"lies below {parent!r}, which is a file")
            self._implied.add(parent)
        held = self._explicit.get(path)
        if held is not None:
            if held is kind:
                raise refuse(name, f"names {path!r} more than once")
            raise refuse(name, f"makes {path!r} both a {held.value} and a {kind.value}")
        if kind is not Kind.DIRECTORY and path in self._implied:
            what = ("a symbolic link over a directory" if kind is Kind.SYMLINK
                    else "a file where other entries need a directory")
            raise refuse(name, f"makes {path!r} {what}")
        self._explicit[path] = kind


def plan(infos: Iterable[zipfile.ZipInfo]) -> list[Entry]:
    """The entries to unpack, in archive order; raises InvalidArgument or EntityTooLarge."""
    listed = list(infos)
    if len(listed) > MAX_ENTRIES:
        raise EntityTooLarge(f"code zip has {len(listed)} entries; at most {MAX_ENTRIES} "
                             "are allowed")
    layout = _Layout()
    entries: list[Entry] = []
    for info in listed:
        parts = _parts(info)
        kind = _kind(info)
        if not parts:
            if kind is Kind.DIRECTORY:
                continue  # "./" names the code directory itself
            raise refuse(info.filename, "has an empty name")
        _readable(info)
        path = "/".join(parts)
        layout.add(path, kind, info.filename)
        entries.append(Entry(info, path, kind, (info.external_attr >> 16) & 0o777))
    return entries
