"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, and the bucket
settings clients read on their way (location, versioning, ACL, and "not configured"
answers for the rest)."""

from __future__ import annotations

from fcompute.objectstore import errors as store_errors
from fcompute.objectstore import wire
from fcompute.objectstore.s3 import errors, xmldoc
from fcompute.objectstore.s3.call import Call, decode_token, encode_token, owner


async def list_buckets(call: Call) -> None:
    query = call.request.query
    prefix = query.get("prefix", "")
    limit = call.int_param("max-buckets", 10_000, low=1, high=10_000)
    after = decode_token(query["continuation-token"]) if query.get(
        "continuation-token") else ""
    chosen = [b for b in call.store.buckets() if b.name.startswith(prefix) and b.name > after]
    page, more = chosen[:limit], len(chosen) > limit
    entries = [xmldoc.element("Bucket", xmldoc.elements(
        ("Name", bucket.name), ("CreationDate", wire.iso_date(bucket.created)),
        ("BucketRegion", call.region))) for bucket in page]
    await call.respond.xml(xmldoc.document("ListAllMyBucketsResult", [
        xmldoc.element("Owner", owner()), xmldoc.element("Buckets", entries),
        xmldoc.element("ContinuationToken", encode_token(page[-1].name) if more else None),
        xmldoc.element("Prefix", prefix if "prefix" in query else None)]))


async def create_bucket(call: Call) -> None:
    body = await call.body(default_algorithm=None).read_small()
    if body.strip():
        # The LocationConstraint is accepted whatever it names: there is one region here.
        xmldoc.parse(body, "CreateBucketConfiguration")
    name = call.request.bucket
    try:
        await call.store.create_bucket(name)
    except store_errors.BucketAlreadyExists:
        # Every bucket has the one owner, so the bucket is always the caller's own.
        raise errors.BucketAlreadyOwnedByYou(
            "Your previous request to create the named bucket succeeded and you already "
            "own it.", BucketName=name) from None
    await call.respond.empty(200, [(b"location", f"/{name}".encode())])


async def head_bucket(call: Call) -> None:
    call.store.bucket(call.request.bucket)
    await call.respond.empty(200, [(b"x-amz-bucket-region", call.region.encode())])


async def delete_bucket(call: Call) -> None:
    await call.store.delete_bucket(call.request.bucket)
    await call.respond.empty(204)


async def get_location(call: Call) -> None:
    call.store.bucket(call.request.bucket)
    # S3 writes us-east-1 as an empty constraint; clients map it back.
    region = "" if call.region == "us-east-1" else call.region
    await call.respond.xml(xmldoc.document("LocationConstraint", [xmldoc.escape(region)]))


async def get_versioning(call: Call) -> None:
    call.store.bucket(call.request.bucket)  # never versioned: an empty configuration
    await call.respond.xml(xmldoc.document("VersioningConfiguration", []))


async def get_acl(call: Call) -> None:
    if call.request.key:
        call.store.head_object(call.request.bucket, call.request.key)
    else:
        call.store.bucket(call.request.bucket)
    grantee = ('<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
               f'xsi:type="CanonicalUser">{"".join(owner())}</Grantee>')
    await call.respond.xml(xmldoc.document("AccessControlPolicy", [
        xmldoc.element("Owner", owner()),
        xmldoc.element("AccessControlList", [xmldoc.element("Grant", [
            grantee, xmldoc.element("Permission", "FULL_CONTROL")])])]))


# Bucket settings the store never has, and how S3 says a bucket has none.
NOT_CONFIGURED = {
    "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "cors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    "tagging": ("NoSuchTagSet", "The TagSet does not exist"),
    "lifecycle": ("NoSuchLifecycleConfiguration", "The lifecycle configuration does not "
                  "exist"),
    "website": ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website "
                "configuration"),
    "encryption": ("ServerSideEncryptionConfigurationNotFoundError", "The server side "
                   "encryption configuration was not found"),
    "replication": ("ReplicationConfigurationNotFoundError", "The replication configuration "
                    "was not found"),
    "object-lock": ("ObjectLockConfigurationNotFoundError", "Object Lock configuration does "
                    "not exist for this bucket"),
    "ownershipControls": ("OwnershipControlsNotFoundError", "The bucket ownership controls "
                          "were not found"),
    "publicAccessBlock": ("NoSuchPublicAccessBlockConfiguration", "The public access block "
                          "configuration was not found"),
}


async def get_unconfigured(call: Call) -> None:
    call.store.bucket(call.request.bucket)
    for setting, (code, message) in NOT_CONFIGURED.items():
        if setting in call.request.query:
            raise store_errors.StorageError(message, code=code, status=404,
                                            BucketName=call.request.bucket)
    raise errors.NotImplementedHere("this bucket setting is not supported")
