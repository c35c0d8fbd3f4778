"""What an instance gets to reach the platform's object store: short-lived credentials,
the store's address, and the environment variables that ``boto3`` and ``oss2`` read, so
that a function's code holds neither keys nor addresses (docs/storage.md, "Functions and
the store").

Credentials are issued per pool (one function configuration run through one qualifier)
with the scope ``<service>/<function>``, and travel with INIT (for the initializer and
import-time code) and with every INVOKE and HTTP request: an instance can live far longer
than any credentials (keep-alive, a busy instance is never reaped), and each request
brings it valid ones. The agent keeps ``context.credentials`` and the credential
variables of its environment up to date from them.

Lifetime: ``--function-credentials-ttl`` (an hour by default), at least twice the
function's longest run (its timeout, or its initializer's if longer, plus a second).
Credentials are replaced once half of that has passed, so whatever a request starts with
stays valid until its timeout. A request carries them only to an instance that does not
hold them yet, so the hot path pays a dictionary lookup, a clock read and a set lookup;
an HMAC only at each replacement.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from fcompute.config import Settings
from fcompute.objectstore.credentials import StorageKeys

# Environment variable -> field of the credentials (as INIT and INVOKE carry them).
# FC's own names, always set (validation reserves them).
FC_CREDENTIAL_VARIABLES = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "accessKeyId",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "accessKeySecret",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "securityToken",
    "accessKeyID": "accessKeyId",
    "accessKeySecret": "accessKeySecret",
    "securityToken": "securityToken",
}
# What botocore's environment provider reads. With the expiration set it re-reads them
# when they near it, so a client made at import time follows each replacement.
AWS_CREDENTIAL_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "accessKeyId",
    "AWS_SECRET_ACCESS_KEY": "accessKeySecret",
    "AWS_SESSION_TOKEN": "securityToken",
    "AWS_CREDENTIAL_EXPIRATION": "expiration",
}
# What oss2's EnvironmentVariableCredentialsProvider reads (at every request).
OSS_CREDENTIAL_VARIABLES = {
    "OSS_ACCESS_KEY_ID": "accessKeyId",
    "OSS_ACCESS_KEY_SECRET": "accessKeySecret",
    "OSS_SESSION_TOKEN": "securityToken",
}
# A function that sets one of these itself talks to another S3 (AWS, say) with keys of
# its own: every AWS_* variable is then left as it set them, none is added.
AWS_OWN_MARKERS = frozenset({*AWS_CREDENTIAL_VARIABLES, "AWS_ENDPOINT_URL",
                             "AWS_ENDPOINT_URL_S3"})
OSS_OWN_MARKERS = frozenset(OSS_CREDENTIAL_VARIABLES)
# The store's address for oss2 users, who must pass one to oss2.Bucket (it reads none).
OSS_ENDPOINT_VARIABLE = "FC_OSS_ENDPOINT"

# Beyond the function's own limit: the time between the handoff and the handler's start.
SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class Issued:
    meta: dict[str, str]  # accessKeyId, accessKeySecret, securityToken, expiration (ISO 8601)
    replace_at: float  # wall clock: from then on, requests get new ones
    # Instances that were handed these already: their requests need not carry them again.
    holders: set[str] = field(default_factory=set)

    def for_instance(self, instance_id: str) -> dict[str, str] | None:
        """What a request to ``instance_id`` carries: the credentials the first time."""
        holders = self.holders
        if instance_id in holders:
            return None
        holders.add(instance_id)
        return self.meta


def reachable_host(settings: Settings) -> str:
    """The platform's address as seen from an instance that shares its network."""
    host = settings.host
    if host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


class FunctionStorage:
    """Hands instances their way into the store.

    ``private_network``: the sandbox gives instances of services with ``internetAccess:
    false`` a network of their own with the store at ``127.0.0.1:<storage port>`` (the
    Linux sandbox's forwarder); elsewhere they share the platform's network.
    """

    def __init__(self, keys: StorageKeys, settings: Settings, *, private_network: bool) -> None:
        self._keys = keys
        self._ttl = settings.function_credentials_ttl_seconds
        self._region = settings.region
        self._shared_endpoint = f"http://{reachable_host(settings)}:{settings.storage_port}"
        self._private_endpoint = f"http://127.0.0.1:{settings.storage_port}"
        self._private_network = private_network
        self._issued: dict[str, Issued] = {}

    def endpoint(self, internet_access: bool) -> str:
        if self._private_network and not internet_access:
            return self._private_endpoint
        return self._shared_endpoint

    @staticmethod
    def credential_variables(own: Mapping[str, str]) -> dict[str, str]:
        """Variable -> credentials field, for the variables the platform keeps current."""
        variables = dict(FC_CREDENTIAL_VARIABLES)
        if AWS_OWN_MARKERS.isdisjoint(own):
            variables.update(AWS_CREDENTIAL_VARIABLES)
        if OSS_OWN_MARKERS.isdisjoint(own):
            variables.update(OSS_CREDENTIAL_VARIABLES)
        return variables

    def address_environment(self, internet_access: bool, own: Mapping[str, str]) -> dict[str, str]:
        """The store's endpoint (and boto3's region) in the variables clients read."""
        endpoint = self.endpoint(internet_access)
        env = {OSS_ENDPOINT_VARIABLE: endpoint}
        if AWS_OWN_MARKERS.isdisjoint(own):
            env["AWS_ENDPOINT_URL_S3"] = endpoint
            if "AWS_DEFAULT_REGION" not in own:
                env["AWS_DEFAULT_REGION"] = self._region
        return env

    @staticmethod
    def credential_environment(issued: Issued, variables: Mapping[str, str]) -> dict[str, str]:
        return {name: issued.meta[field] for name, field in variables.items()}

    def current(self, key: str) -> Issued | None:
        """The credentials requests of pool ``key`` carry now; None when new ones are due."""
        issued = self._issued.get(key)
        if issued is not None and time.time() < issued.replace_at:
            return issued
        return None

    def issue(self, key: str, scope: str, longest_run_s: float) -> Issued:
        """New credentials for pool ``key``; they outlast a run of ``longest_run_s``."""
        cover = longest_run_s + SLACK_SECONDS
        lifetime = max(self._ttl, 2 * cover)
        credentials = self._keys.issue(scope, lifetime)
        issued = Issued(
            meta={
                "accessKeyId": credentials.access_key_id,
                "accessKeySecret": credentials.access_key_secret,
                "securityToken": credentials.security_token,
                "expiration": credentials.expiration_iso(),
            },
            replace_at=credentials.expiration - lifetime / 2,
        )
        self._forget_expired()
        self._issued[key] = issued
        return issued

    def _forget_expired(self) -> None:
        """Pools that are gone leave their entry behind until it is past replacing."""
        now = time.time()
        for key in [key for key, issued in self._issued.items() if issued.replace_at < now]:
            del self._issued[key]
