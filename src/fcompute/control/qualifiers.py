"""Qualified reads: which snapshot a qualifier shows (an alias shows its main version)."""

from __future__ import annotations

from fcompute import errors, validation
from fcompute.model import LATEST
from fcompute.store.sql import SqlStore


async def version_shown(store: SqlStore, service: str, qualifier: str) -> str:
    """LATEST or the version id that reads through ``qualifier`` show; 404 if none."""
    if qualifier == LATEST:
        return LATEST
    if validation.DECIMAL.fullmatch(qualifier):
        return (await store.get_version(service, qualifier)).id
    if not validation.ALIAS_NAME.fullmatch(qualifier):
        await store.get_service(service)  # ServiceNotFound first, as for any read
        raise errors.alias_not_found(service, qualifier)
    return (await store.get_alias(service, qualifier)).version_id
