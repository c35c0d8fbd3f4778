"""Aliases: /services/{service}/aliases[/{aliasName}].

An alias names a version (``version_id``) and may send a share of the requests to other
versions (``additional_version_weight``: version id -> weight in 0..1, summing to at most 1).
Reads and invocations reach it with ``qualifier="<alias name>"``; an update applies from
the next request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from fcompute.sdk.base import ClientBase, compact, iterate, service_path
from fcompute.sdk.models import Alias, JsonDict, Page
from fcompute.sdk.versions import VersionId, version_text

# Version id -> the share of requests it gets, 0..1 (ids as str or int, one kind per mapping).
Weights = Mapping[str, float] | Mapping[int, float]


def weights_json(weights: Weights | None) -> dict[str, float] | None:
    if weights is None:
        return None
    return {version_text(version): weight for version, weight in weights.items()}


def aliases_path(service: str) -> str:
    return f"{service_path(service)}/aliases"


def alias_path(service: str, name: str) -> str:
    if not name or "/" in name:
        raise ValueError(f"{name!r} is not an alias name")
    return f"{aliases_path(service)}/{name}"


class AliasesMixin(ClientBase):
    def create_alias(
        self,
        service: str,
        name: str,
        version_id: VersionId,
        *,
        description: str | None = None,
        additional_version_weight: Weights | None = None,
    ) -> Alias:
        """FcApiError 409 ``AliasAlreadyExists``; 400 ``InvalidArgument`` for a missing
        version or weights outside the rules."""
        body: JsonDict = {"aliasName": name, "versionId": version_text(version_id),
                          **compact({"description": description,
                                     "additionalVersionWeight":
                                         weights_json(additional_version_weight)})}
        data, etag = self._call("POST", aliases_path(service), body)
        return Alias.from_api(data, etag)

    def get_alias(self, service: str, name: str) -> Alias:
        """FcApiError 404 ``AliasNotFound``."""
        data, etag = self._call("GET", alias_path(service, name))
        return Alias.from_api(data, etag)

    def update_alias(
        self,
        service: str,
        name: str,
        *,
        version_id: VersionId | None = None,
        description: str | None = None,
        additional_version_weight: Weights | None = None,
        if_match: str | None = None,
    ) -> Alias:
        """Changes only the given fields; ``additional_version_weight={}`` removes the weights.

        With ``if_match=alias.etag`` the update is refused (412 ``PreconditionFailed``) when
        the alias changed since it was read.
        """
        body = compact({
            "versionId": None if version_id is None else version_text(version_id),
            "description": description,
            "additionalVersionWeight": weights_json(additional_version_weight),
        })
        data, etag = self._call("PUT", alias_path(service, name), body, if_match=if_match)
        return Alias.from_api(data, etag)

    def list_aliases(
        self,
        service: str,
        *,
        prefix: str = "",
        limit: int | None = None,
        next_token: str | None = None,
        start_key: str | None = None,
    ) -> Page[Alias]:
        """One page of aliases by name; ``start_key`` is the name the page starts at."""
        params = compact({
            "prefix": prefix or None,
            "limit": None if limit is None else str(limit),
            "nextToken": next_token,
            "startKey": start_key or None,
        })
        data, _ = self._call("GET", aliases_path(service), params=params)
        items = data.get("aliases") or []
        return Page([Alias.from_api(item) for item in items], data.get("nextToken") or None)

    def iter_aliases(
        self, service: str, *, prefix: str = "", page_size: int | None = None
    ) -> Iterator[Alias]:
        return iterate(lambda token: self.list_aliases(
            service, prefix=prefix, limit=page_size, next_token=token))

    def delete_alias(self, service: str, name: str, *, if_match: str | None = None) -> None:
        """FcApiError 404 ``AliasNotFound``; 412 when ``if_match`` is stale."""
        self._call("DELETE", alias_path(service, name), if_match=if_match)
