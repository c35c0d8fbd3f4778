"""Finds the user's handler and turns import failures into stable error types.

Standard library only: imported inside every instance.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from typing import Any

from fcompute.runtime import errors


class UserCodeError(Exception):
    """A failure of user code with a stable ``error_type``."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []

    def to_meta(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message,
                "stackTrace": self.stack}


def user_frames(exc: BaseException) -> list[str]:
    """The traceback without the agent's own frames, one string per frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    kept = [f for f in frames if "/fcompute/runtime/" not in f.filename.replace("\\", "/")]
    return [line.rstrip("\n") for line in traceback.format_list(kept or frames)]


def load(spec: str, role: str = "handler") -> Callable[..., Any]:
    """Imports ``module.attr`` (module may be ``pkg/mod`` or ``pkg.mod``)."""
    if "." not in spec:
        raise UserCodeError(errors.MALFORMED_HANDLER,
                            f"{role} {spec!r} must be of the form 'module.function'")
    module_name, attr = spec.rsplit(".", 1)
    module_name = module_name.replace("/", ".")
    if not module_name or not attr:
        raise UserCodeError(errors.MALFORMED_HANDLER,
                            f"{role} {spec!r} must be of the form 'module.function'")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else "unknown"
        raise UserCodeError(
            errors.SYNTAX, f"Syntax error in module '{module_name}': {exc.msg} ({where})",
            user_frames(exc),
        ) from None
    except ImportError as exc:
        raise UserCodeError(
            errors.IMPORT_MODULE, f"Unable to import module '{module_name}': {exc}",
            user_frames(exc),
        ) from None
    except Exception as exc:
        raise UserCodeError(
            errors.IMPORT_MODULE,
            f"Unable to import module '{module_name}': {type(exc).__name__}: {exc}",
            user_frames(exc),
        ) from None
    target = getattr(module, attr, None)
    if target is None:
        raise UserCodeError(
            errors.HANDLER_NOT_FOUND, f"{role} '{attr}' is missing on module '{module_name}'"
        )
    if not callable(target):
        raise UserCodeError(
            errors.HANDLER_NOT_FOUND, f"{role} '{spec}' is not callable"
        )
    return target  # type: ignore[no-any-return]
