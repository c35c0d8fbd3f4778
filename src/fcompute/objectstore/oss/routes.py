"""Which operation a request asks for: its level (service, bucket, object), its method,
and the sub-resources in its query (``?uploads``, ``?delete``, ``?objectMeta``...).

A sub-resource this store does not have (``?cors``, ``?tagging``, ``?x-oss-process``...)
is answered 501 NotImplemented rather than treated as a plain request, so a client never
mistakes a plain GET for, say, an image processed by ``x-oss-process``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fcompute.objectstore.oss import buckets, deletes, listing, multipart, objects
from fcompute.objectstore.oss.errors import MethodNotAllowed, NotImplementedFeature
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.request import OssRequest

Handler = Callable[[Exchange], Awaitable[None]]
_NONE: frozenset[str] = frozenset()


async def _put_object_or_copy(x: Exchange) -> None:
    if x.request.header(objects.COPY_SOURCE):
        await objects.copy_object(x)
    else:
        await objects.put_object(x)


_ROUTES: dict[tuple[str, str, frozenset[str]], Handler] = {
    ("service", "GET", _NONE): buckets.list_buckets,
    ("bucket", "PUT", _NONE): buckets.put_bucket,
    ("bucket", "DELETE", _NONE): buckets.delete_bucket,
    ("bucket", "HEAD", _NONE): buckets.head_bucket,
    ("bucket", "GET", _NONE): listing.list_objects,
    # ListObjectsV2 sends continuation-token, which is a sub-resource, even when empty.
    ("bucket", "GET", frozenset({"continuation-token"})): listing.list_objects,
    ("bucket", "GET", frozenset({"bucketInfo"})): buckets.bucket_info,
    ("bucket", "GET", frozenset({"location"})): buckets.bucket_location,
    ("bucket", "GET", frozenset({"acl"})): buckets.bucket_acl,
    ("bucket", "POST", frozenset({"delete"})): deletes.delete_objects,
    ("bucket", "GET", frozenset({"uploads"})): multipart.list_uploads,
    ("object", "PUT", _NONE): _put_object_or_copy,
    ("object", "GET", _NONE): objects.get_object,
    ("object", "HEAD", _NONE): objects.head_object,
    ("object", "HEAD", frozenset({"objectMeta"})): objects.object_meta,
    ("object", "DELETE", _NONE): objects.delete_object,
    ("object", "GET", frozenset({"acl"})): objects.object_acl,
    ("object", "POST", frozenset({"uploads"})): multipart.initiate,
    ("object", "PUT", frozenset({"uploadId", "partNumber"})): multipart.upload_part,
    ("object", "POST", frozenset({"uploadId"})): multipart.complete,
    ("object", "DELETE", frozenset({"uploadId"})): multipart.abort,
    ("object", "GET", frozenset({"uploadId"})): multipart.list_parts,
}


def choose(request: OssRequest) -> Handler:
    subresources = request.operation_subresources
    handler = _ROUTES.get((request.level, request.method, subresources))
    if handler is not None:
        return handler
    if subresources:
        names = ", ".join(sorted(subresources))
        raise NotImplementedFeature(f"this store does not implement ?{names} on the "
                                    f"{request.level} ({request.method})")
    raise MethodNotAllowed(f"{request.method} is not an operation on the {request.level}",
                           Method=request.method, ResourceType=request.level.capitalize())
