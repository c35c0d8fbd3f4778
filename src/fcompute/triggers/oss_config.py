"""The ``oss`` trigger's config and source, read the way Function Compute reads them.

The config is stored and echoed back exactly as it was sent; this module only reads it.
Keys are matched in any letter case, because Serverless Devs sends its s.yaml ``config``
verbatim: ``{"bucketName": "b", "events": [...], "filter": {"Key": {"Prefix": "p",
"Suffix": ""}}}``. Keys it does not know (``bucketName``) are ignored; the same key twice in
different cases is refused, since either reading would be a guess.

Event names are FC's (``oss:ObjectCreated:PutObject``, ...). A ``*`` in the last part is a
wildcard (``oss:ObjectCreated:*``, ``oss:ObjectRemoved:*``); a name must cover at least one
event FC knows, so a typo is a 400 and not a trigger that never fires.

**Overlap.** FC does not let two triggers of one bucket fire on the same event for the same
object. Two filters overlap exactly when some object event would fire both:

- their event patterns cover a common event name, and
- one prefix starts with the other ("" starts every key), and
- one suffix ends with the other.

When all three hold, the key made of the longer prefix followed by the longer suffix
matches both filters; when a prefix (or suffix) pair is not nested, no key has both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fcompute.errors import InvalidArgument

# Every event an OSS trigger may name (FC's table; devsapp/fc3 OSSEvents).
OSS_EVENTS = (
    "oss:ObjectCreated:PutObject",
    "oss:ObjectCreated:PostObject",
    "oss:ObjectCreated:CompleteMultipartUpload",
    "oss:ObjectCreated:PutSymlink",
    "oss:ObjectCreated:CopyObject",
    "oss:ObjectCreated:InitiateMultipartUpload",
    "oss:ObjectCreated:UploadPart",
    "oss:ObjectCreated:UploadPartCopy",
    "oss:ObjectCreated:AppendObject",
    "oss:ObjectRemoved:DeleteObject",
    "oss:ObjectRemoved:DeleteObjects",
    "oss:ObjectRemoved:AbortMultipartUpload",
    "oss:ObjectModified:UpdateObjectMeta",
)
# The shape of an event name (fullmatch); a '*' may stand for any letters of the last part.
EVENT_SYNTAX = re.compile(r"oss:Object[A-Za-z]+:[A-Za-z*]+")
# acs:oss:{region}:{account}:{bucket} (fullmatch). Bucket names as S3 and OSS spell them
# (dots too: an external server's bucket may have them).
SOURCE_ARN = re.compile(r"acs:oss:([^:\n]*):([^:\n]*):([A-Za-z0-9][A-Za-z0-9.-]{1,62})")
# The longest key OSS and S3 store; a longer prefix or suffix could never match.
MAX_AFFIX_CHARS = 1024


@dataclass(frozen=True)
class SourceArn:
    region: str
    account: str
    bucket: str

    @classmethod
    def parse(cls, text: str) -> SourceArn:
        match = SOURCE_ARN.fullmatch(text)
        if match is None:
            raise InvalidArgument(
                f"oss sourceArn {text[:200]!r} must be 'acs:oss:{{region}}:{{account}}:{{bucket}}'"
            )
        return cls(*match.groups())


def _pattern(event: str) -> re.Pattern[str]:
    return re.compile("[A-Za-z]*".join(re.escape(part) for part in event.split("*")))


@dataclass(frozen=True)
class OssFilter:
    """Which object events of its bucket fire a trigger."""

    events: tuple[str, ...]  # as configured, 'oss:'-prefixed, wildcards included
    prefix: str
    suffix: str
    covered: frozenset[str]  # the names of OSS_EVENTS the patterns cover
    _matcher: re.Pattern[str]

    @classmethod
    def of(cls, events: tuple[str, ...], prefix: str = "", suffix: str = "") -> OssFilter:
        patterns = [_pattern(event) for event in events]
        covered = frozenset(name for name in OSS_EVENTS
                            if any(p.fullmatch(name) for p in patterns))
        matcher = re.compile("|".join(f"(?:{p.pattern})" for p in patterns))
        return cls(events, prefix, suffix, covered, matcher)

    def fires_on(self, event_name: str, key: str) -> bool:
        """``event_name`` as the store names it, without 'oss:' (``ObjectCreated:PutObject``)."""
        return (key.startswith(self.prefix) and key.endswith(self.suffix)
                and self._matcher.fullmatch("oss:" + event_name) is not None)

    def overlap(self, other: OssFilter) -> tuple[str, str] | None:
        """(an event, a key) that would fire both filters, or None when none would."""
        common = sorted(self.covered & other.covered, key=OSS_EVENTS.index)
        prefixes = sorted((self.prefix, other.prefix), key=len)
        suffixes = sorted((self.suffix, other.suffix), key=len)
        if not common or not prefixes[1].startswith(prefixes[0]) or not suffixes[1].endswith(
                suffixes[0]):
            return None
        return common[0], prefixes[1] + suffixes[1]

    def describe(self) -> str:
        keys = [f"{what} {value!r}" for what, value in (("starting with", self.prefix),
                                                       ("ending with", self.suffix)) if value]
        return f"{', '.join(self.events)} for keys {' and '.join(keys) or 'of any name'}"


def field(mapping: Mapping[str, Any], name: str, where: str) -> Any:
    """``mapping[name]`` with the key in any letter case (None when absent)."""
    found = [key for key in mapping if isinstance(key, str) and key.lower() == name]
    if len(found) > 1:
        raise InvalidArgument(
            f"oss triggerConfig{where} has {' and '.join(repr(k) for k in found)}: keys are read "
            "in any letter case, so give only one of them"
        )
    return mapping[found[0]] if found else None


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"oss triggerConfig{where} must be an object")
    return value


def _affix(key_filter: Mapping[str, Any], name: str) -> str:
    value = field(key_filter, name, ".filter.key")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"oss triggerConfig.filter.key.{name} must be a string")
    if len(value) > MAX_AFFIX_CHARS:
        raise InvalidArgument(
            f"oss triggerConfig.filter.key.{name} is {len(value)} characters; object keys "
            f"have at most {MAX_AFFIX_CHARS}, so it could never match"
        )
    return value


def _event(event: Any) -> str:
    if not isinstance(event, str) or not EVENT_SYNTAX.fullmatch(event):
        raise InvalidArgument(
            f"oss triggerConfig.events: {repr(event)[:80]} is not an OSS event name such as "
            "'oss:ObjectCreated:PutObject' or 'oss:ObjectCreated:*'"
        )
    if not OssFilter.of((event,)).covered:
        raise InvalidArgument(
            f"oss triggerConfig.events: {event!r} names no OSS event; the events are "
            f"{', '.join(OSS_EVENTS)} ('*' in the last part matches any of them)"
        )
    return event


def parse_config(config: Mapping[str, Any]) -> OssFilter:
    """The filter an oss ``triggerConfig`` describes; InvalidArgument naming what is wrong."""
    events = field(config, "events", "")
    if not isinstance(events, list) or not events:
        raise InvalidArgument("oss triggerConfig.events must be a non-empty list of OSS events")
    names = tuple(_event(event) for event in events)
    oss_filter = _object(field(config, "filter", ""), ".filter")
    key_filter = _object(field(oss_filter, "key", ".filter"), ".filter.key")
    return OssFilter.of(names, _affix(key_filter, "prefix"), _affix(key_filter, "suffix"))
