"""Which operation a request is: the method, whether it names a bucket and a key, and
the subresource in its query (``?uploads``, ``?location``, ...). Query parameters that are
no subresource (``x-id``, presigned ``X-Amz-*``) do not change the operation."""

from __future__ import annotations

from fcompute.objectstore.s3 import buckets, errors, listing, multipart, objects
from fcompute.objectstore.s3.call import Operation
from fcompute.objectstore.s3.request import S3Request

# Subresources S3 has and this store does not; naming one is a 501, never a silent
# fallback to the plain operation (a PutObjectAcl must not overwrite the object).
UNSUPPORTED = frozenset({
    "accelerate", "analytics", "attributes", "inventory", "intelligent-tiering",
    "legal-hold", "logging", "metrics", "notification", "policyStatus", "replication",
    "requestPayment", "restore", "retention", "select", "session", "torrent", "versions",
    "website", "cors", "policy", "lifecycle", "encryption", "object-lock", "tagging",
    "ownershipControls", "publicAccessBlock", "acl", "uploads", "renameObject",
    "annotation", "metadataConfiguration", "metadataTable", "abac", "delete", "location",
    "versioning", "uploadId", "list-type",
})


def _unsupported(request: S3Request) -> Operation:
    named = sorted(name for name in request.query if name in UNSUPPORTED)
    what = f"?{named[0]}" if named else f"{request.method} here"
    raise errors.NotImplementedHere(f"{what} is not supported by this object store",
                                    Method=request.method)


def _bucket_operation(request: S3Request) -> Operation:
    query, method = request.query, request.method
    if method == "GET":
        if query.get("list-type") == "2":
            return listing.list_objects_v2
        if "location" in query:
            return buckets.get_location
        if "versioning" in query:
            return buckets.get_versioning
        if "acl" in query:
            return buckets.get_acl
        if "uploads" in query:
            return multipart.list_uploads
        if any(name in query for name in buckets.NOT_CONFIGURED):
            return buckets.get_unconfigured
        if not any(name in UNSUPPORTED for name in query):
            return listing.list_objects_v1
    elif method == "PUT":
        if not any(name in UNSUPPORTED for name in query):
            return buckets.create_bucket
    elif method == "HEAD":
        return buckets.head_bucket
    elif method == "DELETE":
        if not any(name in UNSUPPORTED for name in query):
            return buckets.delete_bucket
    elif method == "POST" and "delete" in query:
        return objects.delete_objects
    return _unsupported(request)


def _object_operation(request: S3Request) -> Operation:
    query, method = request.query, request.method
    upload = "uploadId" in query
    if method == "GET":
        if upload:
            return multipart.list_parts
        if "acl" in query:
            return buckets.get_acl
        if not any(name in UNSUPPORTED for name in query):
            return objects.get_object
    elif method == "HEAD":
        return objects.head_object
    elif method == "PUT":
        if upload and "partNumber" in query:
            return multipart.upload_part
        if not any(name in UNSUPPORTED for name in query):
            if request.has("x-amz-copy-source"):
                return objects.copy_object
            return objects.put_object
    elif method == "DELETE":
        if upload:
            return multipart.abort_upload
        if not any(name in UNSUPPORTED for name in query):
            return objects.delete_object
    elif method == "POST":
        if "uploads" in query:
            return multipart.create_upload
        if upload:
            return multipart.complete_upload
    return _unsupported(request)


def operation(request: S3Request) -> Operation:
    if not request.bucket:
        if request.method == "GET":
            return buckets.list_buckets
        raise errors.MethodNotAllowed("The specified method is not allowed against this "
                                      "resource.", Method=request.method,
                                      ResourceType="SERVICE")
    if not request.key:
        return _bucket_operation(request)
    return _object_operation(request)
