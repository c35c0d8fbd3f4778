"""``fcompute deploy DIR`` with a ``requirements.txt``: pip installs the packages into the code
package (never into DIR), once per distinct file; the function imports them on the platform."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fcompute.sdk import Client, FcApiError
from tests.conftest import unique, write_code
from tests.platform_process import PlatformProcess
from tests.test_cli import Run, assert_one_line_error, checksum_of, cli

SIX_CODE = {
    "index.py": """
        import json, os
        import six

        def handler(event, context):
            here = os.path.dirname(os.path.abspath(__file__))
            return json.dumps({"version": six.__version__,
                               "beside_code": os.path.dirname(six.__file__) == here})
    """,
    "requirements.txt": "# the function's one dependency\nsix\n",
}
PILLOW_CODE = {
    "index.py": """
        import io, json
        from PIL import Image

        def handler(event, context):
            image = Image.new("RGB", (640, 480), "red")
            image.thumbnail((128, 128))
            out = io.BytesIO()
            image.save(out, "PNG")
            return json.dumps({"size": image.size, "magic": out.getvalue()[:4].hex()})
    """,
    "requirements.txt": "Pillow\n",
}
# Put first on PYTHONPATH, this makes any `python -m pip` fail loudly: a deploy that still
# succeeds ran no pip.
TRIPWIRE_PIP = {"pip/__init__.py": "", "pip/__main__.py": """
    import sys
    sys.exit("tripwire: pip ran")
"""}


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def run(shared_platform: PlatformProcess, cache: Path) -> Run:
    def invoke(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
               ) -> subprocess.CompletedProcess[str]:
        return cli(*args, endpoint=shared_platform.endpoint, stdin=stdin,
                   env={"XDG_CACHE_HOME": str(cache), **(env or {})})

    return invoke


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def cache_entries(cache: Path) -> list[Path]:
    """The published entries: deps/<interpreter>/<sha256>, no build leftovers."""
    root = cache / "fcompute" / "deps"
    return sorted(root.glob("*/*")) if root.exists() else []


def test_requirements_installed_into_the_package_then_cached(
    run: Run, tmp_path: Path, cache: Path, shared_platform: PlatformProcess
) -> None:
    code = write_code(tmp_path / "code", SIX_CODE)
    before = tree(code)
    service = unique("deps")
    target = ["--service", service, "--function", "f", "--handler", "index.handler"]

    # Without its requirements the function cannot import six: the platform's Python has
    # no site-packages of its own to lend it.
    bare = run("deploy", str(code), *target, "--no-requirements")
    assert bare.returncode == 0, bare.stderr
    assert "pip" not in bare.stdout
    failed = run("invoke", f"{service}/f")
    assert failed.returncode == 1
    assert "No module named 'six'" in failed.stderr

    first = run("deploy", str(code), *target)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"installing {code / 'requirements.txt'} for Python 3.")
    assert any(line.startswith("  ") and "Successfully installed six" in line
               for line in lines), first.stdout  # pip's own lines, shown as it runs
    assert f"updated function {service}/f" in first.stdout
    result = run("invoke", f"{service}/f")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["beside_code"] is True
    assert answer["version"].count(".") >= 1
    assert tree(code) == before  # pip never wrote into DIR
    [entry] = cache_entries(cache)
    assert (entry / "six.py").is_file()

    # The same requirements again: the cache, not pip. The tripwire fails any pip that runs.
    tripwire = write_code(tmp_path / "tripwire", TRIPWIRE_PIP)
    second = run("deploy", str(code), *target, env={"PYTHONPATH": str(tripwire)})
    assert second.returncode == 0, second.stderr
    assert f"using cached packages for {code / 'requirements.txt'} ({entry})" in second.stdout
    assert "installing" not in second.stdout
    assert checksum_of(second.stdout) == checksum_of(first.stdout)
    assert json.loads(run("invoke", f"{service}/f").stdout) == answer

    # --rebuild-requirements runs pip even so (here the tripwire's), and a failed rebuild
    # leaves the cached packages in place for the next deploy.
    rebuilt = run("deploy", str(code), *target, "--rebuild-requirements",
                  env={"PYTHONPATH": str(tripwire)})
    assert_one_line_error(rebuilt, "pip could not install requirements.txt", "tripwire: pip ran")
    assert cache_entries(cache) == [entry]
    again = run("deploy", str(code), *target, env={"PYTHONPATH": str(tripwire)})
    assert again.returncode == 0, again.stderr

    # A changed file is another cache entry, installed by pip again.
    (code / "requirements.txt").write_text("six\n# pinned later\n")
    changed = run("deploy", str(code), *target)
    assert changed.returncode == 0, changed.stderr
    assert "installing" in changed.stdout
    assert len(cache_entries(cache)) == 2


def test_bad_requirement_fails_clearly_before_anything_changes(
    run: Run, tmp_path: Path, cache: Path, shared_platform: PlatformProcess
) -> None:
    code = write_code(tmp_path / "code", {
        "index.py": "def handler(event, context):\n    return 'never'\n",
        "requirements.txt": "fcompute-no-such-package-anywhere==9.9.9\n",
    })
    service = unique("baddeps")
    done = run("deploy", str(code), "--service", service, "--function", "f",
               "--handler", "index.handler", env={"PIP_NO_INDEX": "1"})
    assert_one_line_error(done, "pip could not install requirements.txt (exit status 1)",
                          "No matching distribution found for "
                          "fcompute-no-such-package-anywhere==9.9.9")
    assert cache_entries(cache) == []
    assert not (cache / "fcompute" / "deps").exists() or not any(
        (cache / "fcompute" / "deps").rglob("*.build-*"))
    with Client(shared_platform.endpoint) as fc, pytest.raises(FcApiError) as missing:
        fc.get_service(service)  # the package is built first: nothing was created
    assert missing.value.code == "ServiceNotFound"


def test_pillow_from_requirements_runs_in_the_function(
    run: Run, tmp_path: Path, cache: Path
) -> None:
    code = write_code(tmp_path / "code", PILLOW_CODE)
    service = unique("pillow")
    done = run("deploy", str(code), "--service", service, "--function", "thumb",
               "--handler", "index.handler")
    assert done.returncode == 0, done.stderr
    result = run("invoke", f"{service}/thumb")
    assert result.returncode == 0, result.stderr
    # Pillow's compiled core loads from the package: a real thumbnail, a real PNG.
    assert json.loads(result.stdout) == {"size": [128, 96], "magic": "89504e47"}


def test_comments_only_requirements_install_nothing(run: Run, tmp_path: Path,
                                                    cache: Path) -> None:
    code = write_code(tmp_path / "code", {
        "index.py": "def handler(event, context):\n    return 'ok'\n",
        "requirements.txt": "# no dependencies yet\n\n",
    })
    service = unique("nodeps")
    done = run("deploy", str(code), "--service", service, "--function", "f",
               "--handler", "index.handler")
    assert done.returncode == 0, done.stderr
    assert "names no packages: nothing to install" in done.stdout
    assert cache_entries(cache) == []
    assert run("invoke", f"{service}/f").stdout == "ok"
