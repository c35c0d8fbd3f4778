"""The platform's own listeners to change events: instance pools and code packages."""

from __future__ import annotations

from fcompute.codestore.collector import CodeCollector
from fcompute.control import events
from fcompute.model import LATEST
from fcompute.pool.pool import InstancePool


def retire_pools(pool: InstancePool) -> events.Listener:
    """Old configurations stop taking requests: LATEST's instances when the function
    changes or goes, a version's when the version is deleted. In-flight requests finish."""
    def on_change(event: events.ChangeEvent) -> None:
        if isinstance(event, events.FunctionChanged) and event.config_changed:
            pool.retire_groups(f"{event.function_id}/{LATEST}/")
        elif isinstance(event, events.VersionDeleted):
            for function_id in event.function_ids:
                pool.retire_groups(f"{function_id}/{event.version_id}/")

    return on_change


def release_code(collector: CodeCollector) -> events.Listener:
    """Packages nothing may name any more become candidates for removal."""
    def on_change(event: events.ChangeEvent) -> None:
        if isinstance(event, events.FunctionChanged) and event.change is not events.Change.CREATED:
            if event.previous_code_digest != event.code_digest:
                collector.dropped(event.previous_code_digest)
        elif isinstance(event, events.VersionDeleted):
            for digest in event.code_digests:
                collector.dropped(digest)

    return on_change
