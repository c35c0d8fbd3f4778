"""Serves thumbnails back over HTTP: GET /<key> answers the thumbnail of uploads/<key>."""

import os

import oss2

THUMBNAILS = os.environ.get("THUMBNAIL_BUCKET", "thumbnails")


def handler(environ, start_response):
    key = environ["PATH_INFO"].lstrip("/")
    if environ["REQUEST_METHOD"] != "GET" or not key:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"GET /<key of an uploaded picture>\n"]
    credentials = environ["fc.context"].credentials
    auth = oss2.StsAuth(credentials.access_key_id, credentials.access_key_secret,
                        credentials.security_token)
    thumbnails = oss2.Bucket(auth, os.environ["FC_OSS_ENDPOINT"], THUMBNAILS)
    try:
        thumbnail = thumbnails.get_object(key)
    except oss2.exceptions.NoSuchKey:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"no thumbnail of {key} (yet)\n".encode()]
    body = thumbnail.read()
    start_response("200 OK", [("Content-Type", thumbnail.content_type),
                              ("Content-Length", str(len(body)))])
    return [body]
