"""One OSS request as the handlers and the signature checks see it: the bucket and key it
addresses, its query and its headers, decoded once.

Addressing. oss2 sends path style (``/<bucket>/<key>``) to an IP or ``localhost``
endpoint and virtual-host style (``Host: <bucket>.<endpoint>``, path ``/<key>``) to a DNS
name. The store cannot know every name it is reached by, so the Host header is taken to
name a bucket when it is not an IP or ``localhost``, has a dot, and its first label is an
existing bucket (or a valid name being created by ``PUT /``). Keys are percent-decoded as
UTF-8: oss2 sends ``/`` in a key as ``%2F``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from fcompute.objectstore import errors, wire
from fcompute.objectstore.engine import BUCKET_NAME
from fcompute.objectstore.server import Scope

# Query parameters that are sub-resources (oss2 ``ProviderAuth._subresource_key_set``):
# V1 signs these, and here they also choose the operation.
SUBRESOURCES = frozenset({
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link",
    "delete", "website", "location", "objectInfo", "objectMeta", "response-expires",
    "response-content-disposition", "cors", "lifecycle", "restore", "qos", "referer", "stat",
    "bucketInfo", "append", "position", "security-token", "live", "comp", "status", "vod",
    "startTime", "endTime", "x-oss-process", "symlink", "callback", "callback-var", "tagging",
    "encryption", "versions", "versioning", "versionId", "policy", "requestPayment",
    "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend",
    "replication", "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
    "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName", "x-oss-async-process",
    "regionList", "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig",
    "redundancyTransition", "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
    "accessPoint", "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name",
    "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
})

# Sub-resources that modify an operation rather than choose one.
_MODIFIERS = frozenset({
    "security-token", "response-content-type", "response-content-language",
    "response-cache-control", "response-content-encoding", "response-expires",
    "response-content-disposition", "x-oss-traffic-limit", "x-oss-request-payer",
})


@dataclass(frozen=True)
class OssRequest:
    scope: Scope
    method: str
    host: str  # the Host header as sent
    bucket: str  # "" for the service (ListBuckets)
    key: str  # "" for bucket operations
    query: list[tuple[str, str]]  # decoded, in order
    request_id: str

    @property
    def params(self) -> dict[str, str]:
        return {name: value for name, value in reversed(self.query)}  # the first one wins

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.query)

    def header(self, name: str) -> str:
        return wire.header(self.scope, name.encode())

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.scope["headers"])

    @property
    def operation_subresources(self) -> frozenset[str]:
        """The sub-resources present that choose the operation (``uploads``, ``acl``...)."""
        return frozenset(name for name, _ in self.query
                         if name in SUBRESOURCES and name not in _MODIFIERS)

    @property
    def source_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    @property
    def level(self) -> str:
        if not self.bucket:
            return "service"
        return "object" if self.key else "bucket"


def host_name(host: str) -> str:
    """The Host header without its port (``[::1]:9001`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_ip_or_localhost(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def bucket_in_host(host: str, method: str, path: str,
                   bucket_exists: Callable[[str], bool]) -> str:
    """The bucket a virtual-host style request names in its Host header, or ""."""
    name = host_name(host).lower()
    if _is_ip_or_localhost(name):
        return ""
    label, dot, rest = name.partition(".")
    if not dot or not rest or not BUCKET_NAME.fullmatch(label):
        return ""
    if bucket_exists(label):
        return label
    creating = method == "PUT" and path in ("", "/")
    return label if creating else ""


def _decode(raw: str, what: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.StorageError(f"the {what} is not valid UTF-8 once percent-decoded",
                                  code="InvalidObjectName") from None


def parse_request(scope: Scope, request_id: str,
                  bucket_exists: Callable[[str], bool]) -> OssRequest:
    method = str(scope["method"]).upper()
    host = wire.header(scope, b"host")
    path = wire.raw_path(scope)
    bucket = bucket_in_host(host, method, path, bucket_exists)
    if bucket:
        key = _decode(path[1:] if path.startswith("/") else path, "object key")
    else:
        raw_bucket, _, raw_key = path.lstrip("/").partition("/")
        bucket = _decode(raw_bucket, "bucket name")
        key = _decode(raw_key, "object key")
    query_string = scope.get("query_string", b"").decode("latin-1")
    query = parse_qsl(query_string, keep_blank_values=True, encoding="utf-8",
                      errors="surrogateescape")
    return OssRequest(scope=scope, method=method, host=host, bucket=bucket, key=key,
                      query=query, request_id=request_id)
