"""``fcompute storage mb|ls|cp|rm``: buckets and objects of the platform's object store,
through the SDK's StorageClient (its S3 API). How ``cp`` tells local paths from objects is
``CP_RULES``, also its help text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcompute.cli.common import CliError, fail, print_table, say
from fcompute.cli.progress import ProgressBar, human_size
from fcompute.sdk import FcConnectionError, FcTimeoutError
from fcompute.sdk.storage import DEFAULT_STORAGE_ENDPOINT, StorageClient
from fcompute.sdk.storage_models import ObjectListing, StorageApiError
from fcompute.sdk.transfers import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    MiB,
)

if TYPE_CHECKING:
    from fcompute.cli.common import Commands

SCHEMES = ("s3://", "oss://")
LOCAL_STARTS = ("/", "./", "../", "~")
# Transfers smaller than this finish before a bar would tell anything.
PROGRESS_MIN_BYTES = 1 * MiB
CP_RULES = (
    "Objects are BUCKET/KEY, also written s3://BUCKET/KEY or oss://BUCKET/KEY. An argument "
    "starting with /, ./, ../ or ~ is a local path, and so is - (stdin or stdout); one with a "
    "scheme is an object; a bare argument is what the other one is not. With two bare "
    "arguments, SRC is local when it exists on disk. s3:// on both sides copies inside the "
    "store. A DST ending in / (or naming a local directory) gets the source's file name."
)
StorageCommand = Callable[[argparse.Namespace, StorageClient], int]


@dataclass(frozen=True)
class Remote:
    bucket: str
    key: str  # "" for the bucket itself, or a prefix ending in "/"

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}" if self.key else self.bucket


def parse_remote(text: str) -> Remote:
    bare = text
    for scheme in SCHEMES:
        bare = bare.removeprefix(scheme)
    bucket, _, key = bare.partition("/")
    if not bucket:
        raise CliError(f"'{text}' names no bucket: use BUCKET or BUCKET/KEY")
    return Remote(bucket, key)


def names_bucket_only(text: str) -> bool:
    """``BUCKET``, not ``BUCKET/`` (the prefix of every key in it) nor ``BUCKET/KEY``."""
    bare = text
    for scheme in SCHEMES:
        bare = bare.removeprefix(scheme)
    return "/" not in bare


def add_storage_endpoint(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("--storage-endpoint", default=default, metavar="URL",
                        help="object store URL (default: $FCOMPUTE_STORAGE_ENDPOINT or "
                             f"{DEFAULT_STORAGE_ENDPOINT})")


def storage_options() -> argparse.ArgumentParser:
    """``--storage-endpoint`` after the action's name too; SUPPRESS keeps one given before."""
    parent = argparse.ArgumentParser(add_help=False)
    add_storage_endpoint(parent, argparse.SUPPRESS)
    return parent


def make_storage_client(args: argparse.Namespace) -> StorageClient:
    endpoint = (args.storage_endpoint or os.environ.get("FCOMPUTE_STORAGE_ENDPOINT")
                or DEFAULT_STORAGE_ENDPOINT)
    key_id = os.environ.get("FCOMPUTE_ACCESS_KEY_ID") or None
    secret = os.environ.get("FCOMPUTE_ACCESS_KEY_SECRET") or None
    if bool(key_id) != bool(secret):
        raise CliError("set both FCOMPUTE_ACCESS_KEY_ID and FCOMPUTE_ACCESS_KEY_SECRET, or neither")
    return StorageClient(endpoint, key_id, secret, timeout=120.0)


def storage_command(command: StorageCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with make_storage_client(args) as store:
                return command(args, store)
        except FcTimeoutError as exc:
            return fail(f"the object store at {exc.endpoint} did not answer: {exc.reason}")
        except FcConnectionError as exc:
            return fail(f"cannot reach the object store at {exc.endpoint}: is `fcompute serve` "
                        f"running? ({exc.reason})")
        except StorageApiError as exc:
            return fail(explain(exc, args))
        except CliError as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"{exc.filename or 'local file'}: {exc.strerror or exc}")
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1

    return run


def explain(exc: StorageApiError, args: argparse.Namespace) -> str:
    """The store's error as one line, naming what it is about (unless the store's message
    does) and ending with the next step where there is one."""
    line = f"{exc.code}: {exc.message.rstrip('.')}" if exc.message else exc.code
    bucket = getattr(args, "about_bucket", "") or exc.resource.strip("/").partition("/")[0]
    if exc.code == "NoSuchBucket" and bucket:
        return (f"{line}{naming(line, f'bucket {bucket}', bucket)}; `fcompute storage mb "
                f"{bucket}` creates it, `fcompute storage ls` lists the buckets")
    if exc.code == "NoSuchKey":
        where = getattr(args, "about_object", "") or exc.resource
        bucket_name, _, key = where.partition("/")
        return (f"{line}{naming(line, where, bucket_name, key)}; `fcompute storage ls "
                f"{bucket}/` shows what is there")
    if exc.code == "BucketNotEmpty" and bucket:
        return (f"{line}{naming(line, f'bucket {bucket}', bucket)}; `fcompute storage rm "
                f"{bucket} --recursive --yes` deletes its objects and then the bucket")
    return line


def naming(line: str, label: str, *names: str) -> str:
    """`` (label)`` unless the line already names each of ``names``."""
    return "" if all(name and name in line for name in names) else f" ({label})"


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "storage", help="buckets and objects of the object store",
        description="Buckets and objects of the platform's object store (its S3 API). "
                    "Objects are BUCKET/KEY (s3://BUCKET/KEY and oss://BUCKET/KEY work too).")
    add_storage_endpoint(parser, None)
    actions = parser.add_subparsers(dest="action", required=True)
    parent = [storage_options()]

    mb = actions.add_parser("mb", parents=parent, help="make a bucket")
    mb.add_argument("bucket", metavar="BUCKET")
    mb.set_defaults(run=storage_command(make_bucket))

    ls = actions.add_parser("ls", parents=parent, help="list buckets, or objects in a bucket",
                            description="Without an argument, the buckets. With BUCKET[/PREFIX], "
                                        "the objects whose keys start with PREFIX, one level "
                                        "deep (the next level as PREFIX/ rows) unless "
                                        "--recursive.")
    ls.add_argument("target", nargs="?", metavar="BUCKET[/PREFIX]")
    ls.add_argument("-r", "--recursive", action="store_true", help="every key under the prefix")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=storage_command(list_command))

    cp = actions.add_parser("cp", parents=parent, help="upload, download or copy an object",
                            description=CP_RULES)
    cp.add_argument("source", metavar="SRC")
    cp.add_argument("destination", metavar="DST")
    cp.add_argument("--content-type", default=None,
                    help="of an upload (default: guessed from the key's extension)")
    cp.add_argument("--meta", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                    help="user metadata of an upload (x-amz-meta-KEY; repeatable)")
    cp.add_argument("--progress", action="store_true",
                    help="show progress even when stderr is not a terminal")
    cp.add_argument("--multipart-threshold", type=mebibytes(1), metavar="MiB",
                    default=DEFAULT_MULTIPART_THRESHOLD,
                    help="upload in parts above this size (default "
                         f"{DEFAULT_MULTIPART_THRESHOLD // MiB})")
    cp.add_argument("--part-size", type=mebibytes(MIN_PART_SIZE // MiB), metavar="MiB",
                    default=DEFAULT_PART_SIZE,
                    help=f"size of each part (default {DEFAULT_PART_SIZE // MiB}, at least "
                         f"{MIN_PART_SIZE // MiB})")
    cp.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                    help=f"parts uploaded at once (default {DEFAULT_CONCURRENCY})")
    cp.set_defaults(run=storage_command(copy_command))

    rm = actions.add_parser("rm", parents=parent, help="delete an object or a bucket",
                            description="BUCKET/KEY deletes one object; BUCKET deletes the "
                                        "bucket, which must be empty. --recursive --yes deletes "
                                        "every object under BUCKET/PREFIX (and, for BUCKET, "
                                        "then the bucket).")
    rm.add_argument("target", metavar="BUCKET[/KEY]")
    rm.add_argument("-r", "--recursive", action="store_true",
                    help="every object under the prefix (needs --yes)")
    rm.add_argument("-y", "--yes", action="store_true", help="really delete with --recursive")
    rm.set_defaults(run=storage_command(remove_command))


def mebibytes(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = float(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below {minimum} MiB")
        return int(value * MiB)

    parse.__name__ = "MiB"
    return parse


# -- mb, ls, rm ---------------------------------------------------------------------------

def make_bucket(args: argparse.Namespace, store: StorageClient) -> int:
    remote = parse_remote(args.bucket)
    if remote.key:
        raise CliError(f"'{args.bucket}' is an object's name: mb takes a bucket name")
    store.create_bucket(remote.bucket)
    say(f"created bucket {remote.bucket}")
    return 0


def list_command(args: argparse.Namespace, store: StorageClient) -> int:
    if not args.target:
        buckets = store.list_buckets()
        if args.json:
            print(json.dumps([{"name": b.name, "created": iso(b.created)} for b in buckets],
                             indent=2))
        else:
            print_table(["NAME", "CREATED"], [[b.name, iso(b.created)] for b in buckets])
        return 0
    remote = parse_remote(args.target)
    args.about_bucket = remote.bucket
    objects, prefixes = [], []
    token: str | None = None
    while True:
        page: ObjectListing = store.list_objects(
            remote.bucket, prefix=remote.key, delimiter="" if args.recursive else "/",
            continuation_token=token)
        objects.extend(page.objects)
        prefixes.extend(page.prefixes)
        if not page.next_token:
            break
        token = page.next_token
    if args.json:
        listed: list[dict[str, Any]] = [{"prefix": p} for p in prefixes]
        listed += [{"key": o.key, "size": o.size, "etag": o.etag,
                    "lastModified": iso(o.last_modified)} for o in objects]
        print(json.dumps(listed, indent=2))
        return 0
    rows = [[p, "-", ""] for p in prefixes]
    rows += [[o.key, str(o.size), iso(o.last_modified)] for o in objects]
    print_table(["KEY", "SIZE", "MODIFIED"], sorted(rows))
    return 0


def iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def remove_command(args: argparse.Namespace, store: StorageClient) -> int:
    remote = parse_remote(args.target)
    args.about_bucket = remote.bucket
    whole_bucket = names_bucket_only(args.target)
    if args.recursive:
        keys = [o.key for o in store.iter_objects(remote.bucket, prefix=remote.key)]
        what = f"bucket {remote.bucket}" if whole_bucket else f"{remote.bucket}/{remote.key}"
        if not args.yes:
            tail = " and then the bucket" if whole_bucket else ""
            raise CliError(f"refusing to delete {len(keys)} object(s) under {what}{tail} "
                           "without --yes")
        for key in keys:
            store.delete_object(remote.bucket, key)
            say(f"deleted {remote.bucket}/{key}")
    elif not whole_bucket:
        if not remote.key or remote.key.endswith("/"):
            raise CliError(f"'{args.target}' names no object: add its key, --recursive for "
                           f"every object under it, or `fcompute storage rm {remote.bucket}` "
                           "for the (empty) bucket")
        # S3 answers a delete of a missing key with success; a typo should not look like one.
        args.about_object = str(remote)
        store.head_object(remote.bucket, remote.key)
        store.delete_object(remote.bucket, remote.key)
        say(f"deleted {remote}")
        return 0
    if whole_bucket:
        store.delete_bucket(remote.bucket)
        say(f"deleted bucket {remote.bucket}")
    return 0


# -- cp -----------------------------------------------------------------------------------

def classify(text: str) -> str | None:
    if text.startswith(SCHEMES):
        return "remote"
    if text in ("-", ".", "..") or text.startswith(LOCAL_STARTS):
        return "local"
    return None


def directions(source: str, destination: str) -> tuple[str, str]:
    """Each side's kind ("local" or "remote"), by the rules of the module's docstring."""
    src, dst = classify(source), classify(destination)
    if src is None and dst is None:
        src = "local" if Path(source).exists() else "remote"
    if src is None:
        src = "local" if dst == "remote" else "remote"
    if dst is None:
        dst = "local" if src == "remote" else "remote"
    if src == dst == "local":
        raise CliError(f"neither {source} nor {destination} is in the store: write objects as "
                       "BUCKET/KEY or s3://BUCKET/KEY")
    return src, dst


def copy_command(args: argparse.Namespace, store: StorageClient) -> int:
    src, dst = directions(args.source, args.destination)
    if src == "local":
        return upload(args, store, args.source, parse_remote(args.destination))
    if dst == "local":
        return download(args, store, parse_remote(args.source), args.destination)
    source, target = parse_remote(args.source), parse_remote(args.destination)
    source_key = object_key(source)
    key = target.key if target.key and not target.key.endswith("/") else (
        target.key + source_key.rpartition("/")[2])
    args.about_bucket, args.about_object = source.bucket, str(source)
    store.copy_object(source.bucket, source_key, target.bucket, key)
    say(f"copied {source} to {target.bucket}/{key}")
    return 0


def object_key(remote: Remote) -> str:
    if not remote.key or remote.key.endswith("/"):
        raise CliError(f"'{remote}' names no object: use BUCKET/KEY")
    return remote.key


def parse_meta(pairs: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not name or not eq:
            raise CliError(f"invalid --meta {pair!r}: use KEY=VALUE")
        meta[name] = value
    return meta


def progress_bar(args: argparse.Namespace, label: str, total: int | None) -> ProgressBar | None:
    terminal = sys.stderr.isatty()
    if not (terminal or args.progress) or (total is not None and total < PROGRESS_MIN_BYTES):
        return None
    return ProgressBar(label, total, sys.stderr, redraw=terminal)


def upload(args: argparse.Namespace, store: StorageClient, source: str, target: Remote) -> int:
    args.about_bucket = target.bucket
    metadata = parse_meta(args.meta)
    key = target.key
    if not key or key.endswith("/"):
        if source == "-":
            raise CliError(f"'{target}' names no key: an upload from stdin needs BUCKET/KEY")
        key += Path(source).name
    path = Path(source).expanduser()
    if source != "-" and path.is_dir():
        raise CliError(f"{source} is a directory: cp uploads one file")
    total = None if source == "-" else path.stat().st_size
    bar = progress_bar(args, f"{target.bucket}/{key}", total)
    started = time.monotonic()
    uploaded = store.upload_file(
        sys.stdin.buffer if source == "-" else path, target.bucket, key,
        content_type=args.content_type, metadata=metadata,
        multipart_threshold=args.multipart_threshold, part_size=args.part_size,
        concurrency=max(args.concurrency, 1), progress=bar)
    if bar is not None:
        bar.finish()
    parts = f" in {uploaded.parts} parts" if uploaded.parts else ""
    say(f"uploaded {source} to {target.bucket}/{key} ({human_size(uploaded.size)}{parts}"
        f"{rate(uploaded.size, started)})")
    return 0


def download(args: argparse.Namespace, store: StorageClient, source: Remote,
             destination: str) -> int:
    key = object_key(source)
    args.about_bucket, args.about_object = source.bucket, str(source)
    info = store.head_object(source.bucket, key)  # the size, for the bar; a clear NoSuchKey
    bar = progress_bar(args, str(source), info.size)
    started = time.monotonic()
    if destination == "-":
        store.download_file(source.bucket, key, sys.stdout.buffer, progress=bar)
        sys.stdout.buffer.flush()
        if bar is not None:
            bar.finish()
        return 0
    path = Path(destination).expanduser()
    if destination.endswith("/") or path.is_dir():
        path = path / key.rpartition("/")[2]
    if not path.parent.is_dir():
        raise CliError(f"{path.parent} is not a directory: cannot download {source} into it")
    got = store.download_file(source.bucket, key, path, progress=bar)
    if bar is not None:
        bar.finish()
    say(f"downloaded {source} to {path} ({human_size(got.size)}{rate(got.size, started)})")
    return 0


def rate(size: int, started: float) -> str:
    elapsed = time.monotonic() - started
    if size < PROGRESS_MIN_BYTES or elapsed <= 0:
        return ""
    return f", {human_size(size / elapsed)}/s"
