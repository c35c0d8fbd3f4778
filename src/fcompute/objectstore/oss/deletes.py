"""DeleteMultipleObjects: ``POST /<bucket>/?delete`` with a ``<Delete>`` document.

The body's Content-MD5 is required and checked, as OSS does. A key that does not exist
is reported deleted (deleting nothing is not an error); ``<Quiet>true</Quiet>`` leaves
the deleted keys out of the answer.
"""

from __future__ import annotations

import base64
import hashlib

from fcompute.objectstore import errors
from fcompute.objectstore.oss import xml
from fcompute.objectstore.oss.errors import InvalidDigest
from fcompute.objectstore.oss.exchange import Exchange
from fcompute.objectstore.oss.listing import encode_key, url_encoded

MAX_KEYS = 1000


def _keys(body: bytes) -> tuple[list[str], bool]:
    root = xml.parse(body, "Delete")
    quiet = (xml.text_of(root, "Quiet") or "false").strip().lower() == "true"
    keys = [xml.text_of(node, "Key") for node in root.findall("Object")]
    if not keys or len(keys) > MAX_KEYS or any(not key for key in keys):
        raise errors.StorageError(f"<Delete> lists 1 to {MAX_KEYS} <Object>s, each with a "
                                  "<Key>", code="MalformedXML")
    return [key for key in keys if key], quiet


async def delete_objects(x: Exchange) -> None:
    request = x.request
    url = url_encoded(request.param("encoding-type"))
    x.store.bucket(request.bucket)
    body = await x.small_body()
    sent = request.header("content-md5")
    if not sent:
        raise InvalidDigest("DeleteMultipleObjects needs a Content-MD5 header")
    calculated = base64.b64encode(hashlib.md5(body).digest()).decode()
    if sent != calculated:
        raise InvalidDigest("the Content-MD5 you specified does not match the body",
                            CalculatedMD5=calculated, ContentMD5=sent[:64])
    keys, quiet = _keys(body)
    for key in keys:
        await x.store.delete_object(request.bucket, key, event="ObjectRemoved:DeleteObjects",
                                    source_ip=request.source_ip,
                                    request_id=request.request_id, actor=x.actor)
    children: list[xml.Node] = [("EncodingType", "url")] if url else []
    if not quiet:
        children += [("Deleted", [("Key", encode_key(key, url))]) for key in keys]
    await x.respond_xml(xml.document("DeleteResult", children))
