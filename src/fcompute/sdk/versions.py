"""Service versions: /services/{service}/versions[/{versionId}].

A version is an immutable snapshot of the service's config and of every function's config
and code. Reads and invocations address one with ``qualifier=`` (a version id or an alias,
see ``aliases.py``); without one they address LATEST, the editable state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from fcompute.sdk.base import ClientBase, compact, iterate, service_path
from fcompute.sdk.models import Page, Version

# BACKWARD lists the newest version first (the API's default), FORWARD the oldest first.
Direction = Literal["BACKWARD", "FORWARD"]
# Version ids are decimal strings; an int is accepted for convenience.
VersionId = str | int


def version_text(version_id: VersionId) -> str:
    text = str(version_id)
    if not text or "/" in text:
        # A slash would address another route; the platform's ids are plain numbers.
        raise ValueError(f"{version_id!r} is not a version id")
    return text


def versions_path(service: str) -> str:
    return f"{service_path(service)}/versions"


class VersionsMixin(ClientBase):
    def publish_version(self, service: str, *, description: str | None = None) -> Version:
        """Snapshots the service as it is now; ids count up from "1".

        FcApiError 400 ``ServiceNotModified`` when nothing changed since the newest version.
        """
        data, _ = self._call("POST", versions_path(service), compact({"description": description}))
        return Version.from_api(data)

    def list_versions(
        self,
        service: str,
        *,
        direction: Direction | None = None,
        limit: int | None = None,
        next_token: str | None = None,
        start_key: VersionId | None = None,
    ) -> Page[Version]:
        """One page of versions, newest first unless ``direction="FORWARD"``.

        ``start_key`` is the version id the page starts at (inclusive).
        """
        params = compact({
            "direction": direction,
            # Sent whenever given, so that a limit out of range is refused, not ignored.
            "limit": None if limit is None else str(limit),
            "nextToken": next_token,
            "startKey": None if start_key is None else version_text(start_key),
        })
        data, _ = self._call("GET", versions_path(service), params=params)
        items = data.get("versions") or []
        return Page([Version.from_api(item) for item in items], data.get("nextToken") or None)

    def iter_versions(
        self,
        service: str,
        *,
        direction: Direction | None = None,
        page_size: int | None = None,
        start_key: VersionId | None = None,
    ) -> Iterator[Version]:
        """Every version in ``direction`` order, fetching the next page only when needed."""
        return iterate(lambda token: self.list_versions(
            service, direction=direction, limit=page_size, next_token=token,
            # The token carries on from where the first page stopped; the key only starts it.
            start_key=start_key if token is None else None))

    def newest_version(self, service: str) -> Version | None:
        """The newest published version, or None when the service has none."""
        page = self.list_versions(service, direction="BACKWARD", limit=1)
        return page.items[0] if page.items else None

    def delete_version(self, service: str, version_id: VersionId) -> None:
        """FcApiError 404 ``VersionNotFound``; 400 ``VersionInUse`` while an alias uses it."""
        self._call("DELETE", f"{versions_path(service)}/{version_text(version_id)}")
