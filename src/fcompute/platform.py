"""The composition root: builds every part from Settings and wires them together.

Nothing else in the package creates long-lived components, so tests build a
Platform exactly the way ``fcompute serve`` does.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from fcompute.api.app import FcApp
from fcompute.api.async_config import AsyncConfigApi
from fcompute.api.async_invocations import AsyncInvocationsApi
from fcompute.api.code import CodeLinks
from fcompute.api.functions import FunctionsApi
from fcompute.api.invocations import InvocationsApi
from fcompute.api.notifications import NotificationsApi, token_from_env
from fcompute.api.openapi import OpenApiDocument
from fcompute.api.proxy import ProxyApi
from fcompute.api.routing import Router
from fcompute.api.services import ServicesApi
from fcompute.api.triggers import TriggersApi
from fcompute.api.versions import VersionsApi
from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.config import AsyncConfigStore
from fcompute.asyncinvoke.destinations import Deliverer, DestinationParser
from fcompute.asyncinvoke.dispatcher import Dispatcher, DispatchLimits
from fcompute.asyncinvoke.gate import InstanceGate
from fcompute.asyncinvoke.queues.sqlite import SqliteQueue
from fcompute.asyncinvoke.service import AsyncInvocations
from fcompute.asyncinvoke.worker import Worker
from fcompute.codestore.collector import CodeCollector, CollectorTiming
from fcompute.codestore.local import LocalCodeStore
from fcompute.config import Settings
from fcompute.control.aliases import AliasesControl
from fcompute.control.async_configs import AsyncConfigsControl
from fcompute.control.events import ChangeEvents
from fcompute.control.functions import FunctionsControl
from fcompute.control.services import ServicesControl
from fcompute.control.subscribers import release_code, retire_pools
from fcompute.control.triggers import TriggersControl
from fcompute.control.versions import VersionsControl
from fcompute.invoke.catalog import FunctionCatalog
from fcompute.invoke.invoker import Invoker
from fcompute.invoke.logfiles import LogFiles
from fcompute.invoke.storage_access import FunctionStorage
from fcompute.objectstore.credentials import StorageKeys
from fcompute.objectstore.engine import ObjectStore
from fcompute.objectstore.oss import OssApi
from fcompute.objectstore.s3 import S3Api
from fcompute.objectstore.server import StorageApp
from fcompute.pool.factory import InstanceFactory
from fcompute.pool.pool import InstancePool, PoolLimits
from fcompute.sandbox.base import Sandbox
from fcompute.sandbox.process import ProcessSandbox
from fcompute.store.database import Database
from fcompute.store.sql import SqlStore
from fcompute.store.timers import TimerStore
from fcompute.triggers.oss import OssTriggers
from fcompute.triggers.timer import TimerTriggers

log = logging.getLogger(__name__)


def platform_secret(data_dir: Path) -> bytes:
    """A per-installation secret for presigned links, kept across restarts."""
    path = data_dir / "secret"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def build_sandbox(settings: Settings) -> Sandbox:
    choice = settings.sandbox
    if choice == "auto":
        from fcompute.sandbox.linux.probe import unavailable_reason

        reason = unavailable_reason(settings.python_executable)
        if reason:
            log.warning("the Linux sandbox cannot run here: %s", reason)
        choice = "process" if reason else "linux"
    if choice == "process":
        return ProcessSandbox(settings.python_executable)
    if choice == "linux":
        from fcompute.sandbox.linux.backend import LinuxSandbox

        return LinuxSandbox(
            settings.data_dir.resolve() / "sandbox", settings.python_executable,
            pids_max=settings.sandbox_pids_max,
            tmp_size_mb=settings.sandbox_tmp_size_mb or None,
        )
    raise ValueError(f"unknown sandbox backend {settings.sandbox!r}")


@dataclass
class Platform:
    settings: Settings
    database: Database
    store: SqlStore
    sandbox: Sandbox
    pool: InstancePool
    invoker: Invoker
    app: FcApp
    queue: SqliteQueue
    dispatcher: Dispatcher
    async_configs: AsyncConfigStore
    deliverer: Deliverer
    code_collector: CodeCollector
    events: ChangeEvents
    objects: ObjectStore
    storage_keys: StorageKeys
    timers: TimerTriggers

    async def start(self) -> None:
        await self.objects.open()
        await self.sandbox.open()
        self.pool.start_reaper()
        await self.queue.start()
        # After the pool is up: recovered events run as soon as the dispatcher starts.
        await self.dispatcher.start()
        self.code_collector.start()  # it reads the queue
        await self.timers.start()  # ticks are async invocations: after the dispatcher
        if not self.sandbox.isolates:
            log.warning(
                "sandbox backend '%s' does NOT isolate functions: they run as plain processes "
                "with the platform's privileges", self.sandbox.name,
            )

    async def close(self) -> None:
        await self.timers.close()
        await self.code_collector.close()
        # Async first: running events get a moment to finish while instances still exist.
        await self.dispatcher.close()
        await self.deliverer.close()
        await self.queue.close()
        await self.invoker.close()
        await self.pool.close()
        await self.sandbox.close()
        self.database.close()


def build_platform(settings: Settings) -> Platform:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database)
    store = SqlStore(database)
    codestore = LocalCodeStore(data_dir / "code")
    sandbox = build_sandbox(settings)
    factory = InstanceFactory(sandbox, codestore)
    pool = InstancePool(factory, PoolLimits(
        max_instances=settings.max_instances_per_function,
        wait_seconds=settings.instance_wait_seconds,
        keep_alive_seconds=settings.keep_alive_seconds,
    ))
    catalog = FunctionCatalog(store, settings.function_cache_seconds)
    logs = LogFiles(data_dir / "logs")
    invoker = Invoker(settings, catalog, pool, logs)
    secret = platform_secret(data_dir)
    links = CodeLinks(secret, codestore)
    objects = ObjectStore(data_dir / "storage")
    storage_keys = StorageKeys(settings.access_keys, secret)
    # Instances get the store's address and short-lived credentials, and the sandbox shows
    # network-isolated ones the store's Unix socket (docs/storage.md).
    sandbox.share_storage(settings.storage_socket, settings.storage_port)
    invoker.use_storage(FunctionStorage(storage_keys, settings, private_network=sandbox.isolates))
    storage = StorageApp(S3Api(objects, storage_keys, settings.region),
                         OssApi(objects, storage_keys, settings.region))

    # Async invocations: durable queue, dispatcher, destinations, records.
    queue = SqliteQueue(data_dir / "async")
    async_configs = AsyncConfigStore(database, settings.function_cache_seconds)
    parser = DestinationParser(settings.region, settings.account_id)
    # Async invocations hold at most half of a function's instances (docs/async.md).
    share = policy.async_instance_share(settings.max_instances_per_function)
    deliverer = Deliverer(parser, queue, catalog)
    worker = Worker(
        catalog=catalog, invoker=invoker, configs=async_configs, codestore=codestore,
        deliverer=deliverer, parser=parser, gate=InstanceGate(share),
        backoff=policy.Backoff(base_s=settings.async_backoff_base_seconds,
                               cap_s=settings.async_backoff_cap_seconds),
    )
    dispatcher = Dispatcher(queue, worker, DispatchLimits(
        # Twice the share claimed: recording outcomes overlaps with running the next ones.
        per_function=2 * share,
        max_in_flight=settings.async_max_in_flight,
        retention_ms=int(settings.async_record_retention_seconds * 1000),
    ))
    invocations = AsyncInvocations(queue, dispatcher, catalog, codestore)
    # Old code stays a little longer than a cached configuration may still point at it.
    code_collector = CodeCollector(
        codestore, [store.code_digests_in_use, queue.code_digests_in_use],
        pool.code_digests_in_use,
        CollectorTiming(linger_s=settings.function_cache_seconds + 1.0),
    )
    async_api = AsyncInvocationsApi(invocations)

    # The control layer: every change goes through these services and is announced on
    # ``events``; caches, pools and the code collector follow the announcements.
    events = ChangeEvents()
    events.subscribe(catalog.on_change)
    events.subscribe(retire_pools(pool))
    events.subscribe(release_code(code_collector))
    # oss triggers: the store's events (and external servers' notifications) become async
    # invocations; the index of triggers by bucket follows the change events.
    oss_triggers = OssTriggers(store, catalog, invocations, account_id=settings.account_id,
                               ttl_s=settings.function_cache_seconds)
    objects.subscribe(oss_triggers.on_object_event)
    events.subscribe(oss_triggers.on_change)
    # timer triggers: each tick of a schedule is one async invocation, claimed in the store.
    timers = TimerTriggers(TimerStore(database), catalog, invocations)
    events.subscribe(timers.on_change)

    router = Router()
    # The invoke route goes first: it is the hot path and the router tries routes in order.
    InvocationsApi(catalog, invoker, async_api.accept).register(router)
    ProxyApi(catalog, invoker, settings.access_keys).register(router)
    ServicesApi(ServicesControl(store, events)).register(router)
    FunctionsApi(FunctionsControl(store, code_collector, events), links).register(router)
    TriggersApi(TriggersControl(store, events)).register(router)
    VersionsApi(VersionsControl(store, events), AliasesControl(store, events)).register(router)
    links.register(router)
    async_api.register(router)
    AsyncConfigApi(AsyncConfigsControl(store, async_configs, events), parser).register(router)
    NotificationsApi(oss_triggers, objects.has_bucket,
                     token=token_from_env(), access_keys=settings.access_keys).register(router)
    OpenApiDocument().register(router)

    platform: Platform
    app = FcApp(router, settings.access_keys,
                on_startup=lambda: platform.start(), on_shutdown=lambda: platform.close(),
                storage=storage, storage_port=settings.storage_port)
    platform = Platform(settings, database, store, sandbox, pool, invoker, app, queue, dispatcher,
                        async_configs, deliverer, code_collector, events, objects, storage_keys,
                        timers)
    return platform
