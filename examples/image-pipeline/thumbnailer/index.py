"""Makes a thumbnail of each picture uploaded to the uploads bucket.

Bound to oss:ObjectCreated:* on the uploads bucket (suffixes .jpg and .png); writes the
thumbnail under the same key into the thumbnails bucket. The platform gives the function
short-lived credentials for its object store (context.credentials) and the store's
address (FC_OSS_ENDPOINT): no keys or addresses in the code.
"""

import io
import json
import os

import oss2
from PIL import Image

THUMBNAILS = os.environ.get("THUMBNAIL_BUCKET", "thumbnails")
SIZE = (128, 128)


def bucket(context, name):
    credentials = context.credentials
    auth = oss2.StsAuth(credentials.access_key_id, credentials.access_key_secret,
                        credentials.security_token)
    return oss2.Bucket(auth, os.environ["FC_OSS_ENDPOINT"], name)


def handler(event, context):
    made = []
    for record in json.loads(event)["events"]:
        source = record["oss"]["bucket"]["name"]
        key = record["oss"]["object"]["key"]
        data = bucket(context, source).get_object(key).read()
        # A file that is not a picture raises here: the invocation fails, and its async
        # record says why.
        image = Image.open(io.BytesIO(data))
        image.load()
        image.thumbnail(SIZE)
        kind = "PNG" if key.lower().endswith(".png") else "JPEG"
        if kind == "JPEG" and image.mode != "RGB":
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, kind)
        bucket(context, THUMBNAILS).put_object(
            key, out.getvalue(), headers={"Content-Type": f"image/{kind.lower()}"})
        context.get_logger().info("thumbnail of %s/%s: %dx%d", source, key, *image.size)
        made.append({"key": key, "width": image.size[0], "height": image.size[1]})
    return json.dumps(made)
