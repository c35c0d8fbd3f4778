#!/usr/bin/env bash
# Deploys the image pipeline onto a running platform (./scripts/demo, or fcompute serve):
# the buckets, both functions (their requirements installed into their packages), the
# oss triggers on uploads and the gallery's HTTP trigger.
#
#   FCOMPUTE_ENDPOINT          the platform (default http://127.0.0.1:9000)
#   FCOMPUTE_STORAGE_ENDPOINT  its object store (default http://127.0.0.1:9001)
set -euo pipefail
cd "$(dirname "$0")"
FCOMPUTE="${FCOMPUTE:-fcompute}"
# The Python that has fcompute installed: the one beside the fcompute command.
PYTHON="${PYTHON:-$(dirname "$(command -v "$FCOMPUTE")")/python}"
SERVICE="${SERVICE:-images}"

for bucket in uploads thumbnails; do
  "$FCOMPUTE" storage ls "$bucket" >/dev/null 2>&1 || "$FCOMPUTE" storage mb "$bucket"
done
"$FCOMPUTE" deploy thumbnailer --service "$SERVICE" --function thumbnailer \
  --handler index.handler --memory 512 --timeout 60
"$FCOMPUTE" deploy gallery --service "$SERVICE" --function gallery \
  --handler index.handler --http-trigger

# The triggers, and no retries for the thumbnailer: a file that is not a picture will not
# become one, so its failure is final at once (and in its async record).
"$PYTHON" - "$SERVICE" <<'PY'
import os, sys
from fcompute.sdk import Client
from fcompute.sdk.errors import FcApiError

service = sys.argv[1]
with Client(os.environ.get("FCOMPUTE_ENDPOINT", "http://127.0.0.1:9000"),
            os.environ.get("FCOMPUTE_ACCESS_KEY_ID"),
            os.environ.get("FCOMPUTE_ACCESS_KEY_SECRET")) as fc:
    for name, suffix in (("jpg-uploads", ".jpg"), ("png-uploads", ".png")):
        config = {"events": ["oss:ObjectCreated:*"], "filter": {"key": {"suffix": suffix}}}
        try:
            fc.create_trigger(service, "thumbnailer", name, "oss", config,
                              source_arn="acs:oss:local:000000000000:uploads")
            print(f"created trigger {name}: uploads/*{suffix} -> {service}/thumbnailer")
        except FcApiError as error:
            if error.code != "TriggerAlreadyExists":
                raise
    fc.put_async_invoke_config(service, "thumbnailer", max_async_retry_attempts=0)
PY
echo "ready: upload a picture to uploads (fcompute storage cp cat.jpg uploads/cat.jpg),"
echo "then fetch its thumbnail: curl -o thumb.jpg ${FCOMPUTE_ENDPOINT:-http://127.0.0.1:9000}/2016-08-15/proxy/${SERVICE}/gallery/cat.jpg"
