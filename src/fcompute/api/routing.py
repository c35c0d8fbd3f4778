"""Path templates to handlers. ``{name}`` matches one segment, ``{name*}`` the rest."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fcompute.api.http import Request, Response, Send
from fcompute.errors import MethodNotAllowed, NotFound

Handler = Callable[[Request, Send], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handlers: dict[str, Handler]


def compile_template(template: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[a-z_]+\*?\})", template):
        if part.startswith("{") and part.endswith("*}"):
            regex += f"(?P<{part[1:-2]}>.*)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$")


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._by_template: dict[str, Route] = {}

    def add(self, methods: str, template: str, handler: Handler) -> None:
        route = self._by_template.get(template)
        if route is None:
            route = self._by_template[template] = Route(compile_template(template), {})
            self._routes.append(route)
        for method in methods.split(","):
            route.handlers[method.strip()] = handler

    def routes(self) -> list[tuple[str, list[str]]]:
        """Every template with its methods, in matching order; ``*`` stands for any method.

        What the OpenAPI document (``api/openapi.py``) is held to by the tests.
        """
        return [(template, sorted(route.handlers)) for template, route in self._by_template.items()]

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            handler = route.handlers.get(method) or route.handlers.get("*")
            if handler is None:
                allowed = ", ".join(sorted(route.handlers))
                raise MethodNotAllowed(f"{method} is not allowed on {path}; use {allowed}")
            return handler, found.groupdict()
        raise NotFound(f"no API operation at {path}", code="ResourceNotFound")
