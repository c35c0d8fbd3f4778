"""What the storage client returns, read from the S3 API's XML (namespaced or not)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fcompute.sdk.errors import FcApiError

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


class StorageApiError(FcApiError):
    """An error answer of the object store: S3's ``<Error><Code/><Message/>...``.

    A subclass of FcApiError, so one ``except FcApiError`` handles both APIs; ``resource``
    names the bucket or object when the store says which.
    """

    def __init__(self, status: int, code: str, message: str, request_id: str = "",
                 resource: str = "") -> None:
        super().__init__(status, code, message, request_id)
        self.resource = resource


@dataclass(frozen=True)
class Bucket:
    name: str
    created: datetime | None


@dataclass(frozen=True)
class ObjectSummary:
    """One object of a listing."""

    key: str
    size: int
    etag: str  # without quotes: the MD5 in hex, or "<hex>-<parts>" for a multipart upload
    last_modified: datetime | None


@dataclass(frozen=True)
class ObjectInfo:
    """An object's description, from HEAD or a GET's headers."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime | None
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-*, without the prefix

    @property
    def multipart(self) -> bool:
        return "-" in self.etag


@dataclass(frozen=True)
class Uploaded:
    bucket: str
    key: str
    size: int
    etag: str
    parts: int  # 0 for a single PUT


@dataclass(frozen=True)
class ObjectListing:
    """One page of ListObjectsV2: objects, the common prefixes (with a delimiter), and the
    token that continues it when ``truncated``."""

    objects: list[ObjectSummary]
    prefixes: list[str]
    truncated: bool
    next_token: str | None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element, name: str, default: str = "") -> str:
    for child in element:
        if _local(child.tag) == name:
            return child.text or ""
    return default


def parse_iso(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_http_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


def parse_xml(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise FcApiError(200, "InvalidResponse", f"{what}: the store's XML does not parse "
                                                 f"({exc}): {body[:200]!r}") from None


def error_from_xml(status: int, body: bytes, request_id: str) -> StorageApiError | None:
    """The store's ``<Error>`` document, or None when the body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if _local(root.tag) != "Error":
        return None
    return StorageApiError(status, _text(root, "Code") or f"HTTP{status}",
                           _text(root, "Message"), _text(root, "RequestId") or request_id,
                           _text(root, "Resource") or _text(root, "Key")
                           or _text(root, "BucketName"))


def parse_buckets(root: ET.Element) -> list[Bucket]:
    found: list[Bucket] = []
    for holder in _children(root, "Buckets"):
        found.extend(Bucket(_text(b, "Name"), parse_iso(_text(b, "CreationDate")))
                     for b in _children(holder, "Bucket"))
    return found


def parse_listing(root: ET.Element) -> ObjectListing:
    objects = [ObjectSummary(_text(c, "Key"), int(_text(c, "Size", "0") or 0),
                             unquote_etag(_text(c, "ETag")), parse_iso(_text(c, "LastModified")))
               for c in _children(root, "Contents")]
    prefixes = [_text(p, "Prefix") for p in _children(root, "CommonPrefixes")]
    truncated = _text(root, "IsTruncated").lower() == "true"
    token = _text(root, "NextContinuationToken") or None
    return ObjectListing(objects, prefixes, truncated, token if truncated else None)


def complete_upload_xml(parts: list[tuple[int, str]]) -> bytes:
    root = ET.Element("CompleteMultipartUpload", xmlns=S3_NAMESPACE)
    for number, etag in parts:
        part = ET.SubElement(root, "Part")
        ET.SubElement(part, "PartNumber").text = str(number)
        ET.SubElement(part, "ETag").text = f'"{unquote_etag(etag)}"'
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def text_of(root: ET.Element, name: str) -> str:
    return _text(root, name)
