"""Event sources that invoke functions: one module per trigger kind.

Each module turns its source's events into async invocation requests
(``AsyncInvocations.submit``) of the functions whose triggers match, resolved through the
function catalog. None of them knows about instances: retries, destinations and records
are the async path's.

- ``oss_config``: the ``oss`` trigger config, read as FC reads it, and the overlap rule.
- ``oss``: the embedded object store's events (and external servers' notifications) to
  invocations of the matching ``oss`` triggers, with the OSS event JSON.
- ``oss_event``: that event JSON.
- ``bucket_notifications``: MinIO's and Ceph RGW's notification bodies read as object events.
"""
