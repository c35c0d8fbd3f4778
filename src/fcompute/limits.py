"""Limits of the FC 2.0 model, in one place so the API, docs and tests agree."""

from __future__ import annotations

MAX_FUNCTIONS_PER_SERVICE = 50
MAX_TRIGGERS_PER_FUNCTION = 10
MEMORY_MIN_MB = 128
MEMORY_MAX_MB = 3072
MEMORY_STEP_MB = 64
DEFAULT_MEMORY_MB = 256
TIMEOUT_MIN_S = 1
TIMEOUT_MAX_S = 86400
DEFAULT_TIMEOUT_S = 60
DEFAULT_INITIALIZATION_TIMEOUT_S = 30
MAX_CODE_ZIP_BYTES = 100 * 1024 * 1024
# The zip travels base64-encoded inside JSON: 4/3 of the zip plus the rest of the body.
MAX_MANAGEMENT_BODY_BYTES = MAX_CODE_ZIP_BYTES * 4 // 3 + 1024 * 1024
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_UNZIPPED_CODE_BYTES = 500 * 1024 * 1024
MAX_ENV_BYTES = 4 * 1024
MAX_INSTANCE_CONCURRENCY = 100
# Private /tmp of an instance, in MB (FC's diskSize: 512 by default, up to 10 GB).
DISK_MIN_MB = 512
DISK_MAX_MB = 10240
DEFAULT_DISK_MB = 512
LOG_TAIL_BYTES = 4 * 1024
LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 100

# Request bodies and free-form fields: what one request may make the platform store and
# every later listing send back.
MAX_JSON_DEPTH = 64  # nested arrays/objects in a JSON body, the body itself counting as one
MAX_DESCRIPTION_CHARS = 256  # FC's limit, for services, functions and triggers
MAX_ARN_CHARS = 256  # role, invocationRole and sourceArn
MAX_HANDLER_CHARS = 128  # handler and initializer (FC: 1-128)
MAX_INSTANCE_TYPE_CHARS = 32
MAX_QUALIFIER_CHARS = 128
# Each object field (logConfig, vpcConfig, nasConfig, tracingConfig, customContainerConfig,
# triggerConfig), measured as compact UTF-8 JSON.
MAX_CONFIG_OBJECT_BYTES = 8 * 1024
MAX_CRON_EXPRESSION_CHARS = 256
MAX_TIMER_INTERVAL_S = 366 * 24 * 3600  # '@every' beyond a year is a date: use a cron
# Bounds of numbers read from queries and headers.
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_EPOCH_S = MAX_EPOCH_MS // 1000
