"""Installs a function's ``requirements.txt`` for the runtime's Python, as ``s build`` and
``fun install`` do for FC users: pip into a build directory of its own (never into the code
directory), kept in a cache keyed by the file's bytes and the interpreter, so that the next
deploy of the same requirements runs no pip at all and yields the same code checksum.

The runtime's Python is, for now, the platform's own interpreter whatever the runtime's
name (``python3``, ``python3.10``...): the packages are installed with the interpreter that
runs this code, which is the platform's when both run from one installation.

    deps = install_requirements(Path("web/requirements.txt"), on_output=print)
    code = zip_directory("web", include=[deps.directory])
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fcompute.sdk.errors import FcError

REQUIREMENTS_FILE = "requirements.txt"
# How much of pip's output a failure quotes: its error lines are the last ones.
PIP_TAIL_LINES = 3


class DependencyError(FcError):
    """pip could not install the requirements; ``output`` holds its last lines."""

    def __init__(self, message: str, output: list[str] | None = None) -> None:
        super().__init__(message)
        self.output = output or []


@dataclass(frozen=True)
class InstalledDependencies:
    directory: Path  # the installed packages, to be merged at the root of the code package
    cached: bool     # reused from the cache: pip did not run


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fcompute/deps``, else ``~/.cache/fcompute/deps``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fcompute" / "deps"


def interpreter_tag() -> str:
    """What installed packages depend on besides the requirements: the Python's ABI and
    platform, e.g. ``cpython-311-linux-x86_64``."""
    return f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}"


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def names_requirements(requirements: Path) -> bool:
    """False for a file of comments and blank lines only: there is nothing to install."""
    for line in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            return True
    return False


def cache_entry(requirements: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    return cache_dir / interpreter_tag() / digest


def cached_dependencies(requirements: Path, cache_dir: Path | None = None) -> Path | None:
    """Where the packages of ``requirements`` are cached for this interpreter, if they are."""
    entry = cache_entry(requirements, cache_dir or default_cache_dir())
    return entry if entry.is_dir() else None


def install_requirements(
    requirements: Path,
    *,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    on_output: Callable[[str], None] | None = None,
) -> InstalledDependencies:
    """The packages ``requirements`` names, installed for this interpreter.

    From the cache when the same file was installed before (unless ``rebuild``); else pip
    runs in the file's directory (so relative paths in it mean what they mean to the user),
    ``on_output`` receives each line it prints, and the result enters the cache only when
    pip succeeded. Raises DependencyError when pip fails or is missing.
    """
    entry = cache_entry(requirements, cache_dir or default_cache_dir())
    if entry.is_dir() and not rebuild:
        return InstalledDependencies(entry, cached=True)
    if importlib.util.find_spec("pip") is None:
        raise DependencyError(f"pip is not installed for {sys.executable}: "
                              f"`{sys.executable} -m ensurepip` installs it")
    entry.parent.mkdir(parents=True, exist_ok=True)
    # A build directory beside the entry: one rename publishes it whole, so a deploy
    # interrupted mid-install or a concurrent one never sees half a package set.
    build = entry.with_name(f"{entry.name}.build-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        _run_pip(requirements, build, on_output)
        _publish(build, entry)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return InstalledDependencies(entry, cached=False)


def _run_pip(requirements: Path, target: Path,
             on_output: Callable[[str], None] | None) -> None:
    command = [sys.executable, "-m", "pip", "install", "--target", str(target),
               "--requirement", str(requirements.resolve()), "--no-compile", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off"]
    # --target and a user-site install exclude each other; a user's PIP_USER must not break us.
    env = {**os.environ, "PIP_USER": "0", "PYTHONUNBUFFERED": "1"}
    tail: collections.deque[str] = collections.deque(maxlen=50)
    with subprocess.Popen(command, cwd=requirements.parent, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as pip:
        assert pip.stdout is not None
        try:
            for raw in pip.stdout:
                line = raw.rstrip()
                if not line:
                    continue
                tail.append(line)
                if on_output is not None:
                    on_output(line)
        except BaseException:
            pip.kill()  # Ctrl-C: pip goes too, and the finally above removes its work
            raise
        code = pip.wait()
    if code != 0:
        last = _last_lines(list(tail))
        raise DependencyError(
            f"pip could not install {requirements.name} (exit status {code}): "
            + (" | ".join(last) or "no output"), list(tail))


def _last_lines(lines: list[str]) -> list[str]:
    """pip's final lines, preferring its ERROR lines: they name the requirement that failed."""
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines)[-PIP_TAIL_LINES:]


def _publish(build: Path, entry: Path) -> None:
    if entry.exists():
        # A rebuild: the old entry goes aside in one rename, then away, so a reader sees
        # the old set or the new one, never a mix.
        stale = entry.with_name(f"{entry.name}.stale-{secrets.token_hex(4)}")
        with contextlib.suppress(FileNotFoundError):
            entry.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        build.rename(entry)
    except OSError:
        if not entry.is_dir():
            raise
        # A concurrent install of the same requirements published first: just as good.
