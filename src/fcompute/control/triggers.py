"""Triggers: create, read, list, update, delete. A trigger's qualifier must exist.

The oss triggers of one bucket may not overlap (FC's rule; ``triggers/oss_config.py`` says
what overlapping means): a create or a config update that would is refused with a 400
naming the trigger it overlaps, whatever service that one belongs to. The check and the
write are serialized within this process, so two overlapping requests at once cannot
both pass. (Processes sharing a PostgreSQL database do not share that lock; two of them
creating overlapping triggers in the same instant could both succeed. Both triggers then
fire.)
"""

from __future__ import annotations

import asyncio

from fcompute.control.commands import TriggerPatch, TriggerSpec
from fcompute.control.events import Change, ChangeEvents, TriggerChanged
from fcompute.errors import InvalidArgument
from fcompute.model import JsonDict, Page, Trigger
from fcompute.store.sql import SqlStore
from fcompute.triggers.oss_config import SourceArn, parse_config


class TriggersControl:
    def __init__(self, store: SqlStore, events: ChangeEvents) -> None:
        self._store = store
        self._events = events
        self._oss_writes = asyncio.Lock()

    def _announce(self, trigger: Trigger, change: Change) -> None:
        self._events.publish(TriggerChanged(
            trigger.service_name, trigger.function_name, trigger.name, trigger.type, change))

    async def create(self, service: str, function: str, spec: TriggerSpec) -> Trigger:
        if spec.type == "oss" and spec.source_arn is not None:
            async with self._oss_writes:
                await self._refuse_overlap(f"{service}/{function}/{spec.name}",
                                           spec.source_arn, spec.config, exclude_id="")
                trigger = await self._store.create_trigger(service, function, spec)
        else:
            trigger = await self._store.create_trigger(service, function, spec)
        self._announce(trigger, Change.CREATED)
        return trigger

    async def get(self, service: str, function: str, name: str) -> Trigger:
        return await self._store.get_trigger(service, function, name)

    async def list(self, service: str, function: str, *, prefix: str, start_key: str,
                   limit: int) -> Page[Trigger]:
        return await self._store.list_triggers(
            service, function, prefix=prefix, start_key=start_key, limit=limit)

    async def update(self, service: str, function: str, name: str, patch: TriggerPatch,
                     if_match: str | None) -> Trigger:
        if patch.config is None:
            trigger = await self._store.update_trigger(service, function, name, patch, if_match)
        else:
            async with self._oss_writes:
                current = await self._store.get_trigger(service, function, name)
                if current.type == "oss" and current.source_arn is not None:
                    await self._refuse_overlap(f"{service}/{function}/{name}",
                                               current.source_arn, patch.config,
                                               exclude_id=current.id)
                trigger = await self._store.update_trigger(service, function, name, patch,
                                                           if_match)
        self._announce(trigger, Change.UPDATED)
        return trigger

    async def delete(self, service: str, function: str, name: str,
                     if_match: str | None) -> None:
        trigger = await self._store.delete_trigger(service, function, name, if_match)
        self._announce(trigger, Change.DELETED)

    async def _refuse_overlap(self, name: str, source_arn: str, config: JsonDict,
                              exclude_id: str) -> None:
        bucket = SourceArn.parse(source_arn).bucket
        wanted = parse_config(config)
        for other in await self._store.oss_triggers(bucket):
            if other.id == exclude_id:
                continue
            try:
                theirs = parse_config(other.config)
            except InvalidArgument:
                continue  # stored before configs were checked this way: it never fires
            shared = wanted.overlap(theirs)
            if shared is not None:
                event, key = shared
                raise InvalidArgument(
                    f"oss trigger '{name}' would overlap trigger "
                    f"'{other.service_name}/{other.function_name}/{other.name}' on bucket "
                    f"'{bucket}' ({theirs.describe()}): both would fire on {event} for key "
                    f"{key!r}. The triggers of one bucket may not share an event for the same "
                    "keys; give them different events, or prefixes (or suffixes) neither of "
                    "which starts (ends) the other"
                )
