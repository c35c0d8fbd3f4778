"""Typed Python client for the fcompute (FC 2.0) API. See docs/cli.md."""

from fcompute.sdk.client import Client
from fcompute.sdk.dependencies import DependencyError, install_requirements
from fcompute.sdk.errors import FcApiError, FcConnectionError, FcError, FcTimeoutError
from fcompute.sdk.models import (
    Alias,
    AsyncAttempt,
    AsyncCodeVersion,
    AsyncDelivery,
    AsyncInvocation,
    AsyncInvokeConfig,
    Function,
    FunctionCode,
    FunctionError,
    HttpResponse,
    InvocationResult,
    Page,
    Service,
    Trigger,
    Version,
)
from fcompute.sdk.packaging import zip_directory
from fcompute.sdk.storage import StorageClient
from fcompute.sdk.storage_models import (
    Bucket,
    ObjectInfo,
    ObjectListing,
    ObjectSummary,
    StorageApiError,
    Uploaded,
)
from fcompute.sdk.triggers import http_trigger_config

__all__ = [
    "Alias",
    "AsyncAttempt",
    "AsyncCodeVersion",
    "AsyncDelivery",
    "AsyncInvocation",
    "AsyncInvokeConfig",
    "Bucket",
    "Client",
    "DependencyError",
    "FcApiError",
    "FcConnectionError",
    "FcError",
    "FcTimeoutError",
    "Function",
    "FunctionCode",
    "FunctionError",
    "HttpResponse",
    "InvocationResult",
    "ObjectInfo",
    "ObjectListing",
    "ObjectSummary",
    "Page",
    "Service",
    "StorageApiError",
    "StorageClient",
    "Trigger",
    "Uploaded",
    "Version",
    "http_trigger_config",
    "install_requirements",
    "zip_directory",
]
