"""The event an oss trigger's function receives: FC's OSS event JSON, one record per event.

    {"events": [{"eventName": "ObjectCreated:PutObject", "eventSource": "acs:oss",
                 "eventTime": "2022-08-13T06:45:43.000Z", "eventVersion": "1.0",
                 "oss": {"bucket": {"arn", "name", "ownerIdentity", "virtualBucket": ""},
                         "object": {"deltaSize", "eTag", "key",
                                    "objectMeta": {"mimeType", "userMeta"}, "size"},
                         "ossSchemaVersion": "1.0", "ruleId"},
                 "region", "requestParameters": {"sourceIPAddress"},
                 "responseElements": {"requestId"}, "userIdentity": {"principalId"}}]}

The bucket's ARN, region and owner are those the trigger's sourceArn names; ``ruleId``
is derived from the trigger's id (40 hex digits, as OSS's rule ids look), so it is the same
for every event of one trigger. The ETag is upper-case hex (a multipart object's keeps its
``-<parts>`` suffix), user metadata names carry ``x-oss-meta-``, and the key is not
URL-encoded.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from fcompute.model import Trigger
from fcompute.objectstore.events import ObjectEvent
from fcompute.triggers.oss_config import SourceArn


@dataclass(frozen=True)
class Origin:
    """Where an object event comes from, beyond what the event itself says."""

    principal_id: str  # who made the change: userIdentity.principalId
    # Names this one change at its source ("" when nothing does): an event delivered twice
    # (an external server retrying) becomes one invocation per trigger.
    event_id: str = ""


def rule_id(trigger: Trigger) -> str:
    return hashlib.sha1(f"fcompute oss trigger {trigger.id}".encode(),
                        usedforsecurity=False).hexdigest()


def event_time(timestamp: float) -> str:
    """ISO 8601 with literal ``.000Z``, as OSS writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(timestamp)))


def oss_event(event: ObjectEvent, origin: Origin, trigger: Trigger) -> dict[str, Any]:
    arn = trigger.source_arn or ""
    source = SourceArn.parse(arn)
    return {"events": [{
        "eventName": event.name,
        "eventSource": "acs:oss",
        "eventTime": event_time(event.time),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": arn, "name": event.bucket, "ownerIdentity": source.account,
                       "virtualBucket": ""},
            "object": {
                "deltaSize": event.delta_size,
                "eTag": event.etag.upper(),
                "key": event.key,
                "objectMeta": {
                    "mimeType": event.content_type,
                    "userMeta": {f"x-oss-meta-{name}": value
                                 for name, value in event.metadata.items()},
                },
                "size": event.size,
            },
            "ossSchemaVersion": "1.0",
            "ruleId": rule_id(trigger),
        },
        "region": source.region,
        "requestParameters": {"sourceIPAddress": event.source_ip},
        "responseElements": {"requestId": event.request_id},
        "userIdentity": {"principalId": origin.principal_id},
    }]}


def payload(event: ObjectEvent, origin: Origin, trigger: Trigger) -> bytes:
    # ASCII escapes: a key from an external server may hold anything JSON can say.
    return json.dumps(oss_event(event, origin, trigger), separators=(",", ":")).encode()
