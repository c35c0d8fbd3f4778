"""Durable async invocation: queue, retries, destinations, records and replay.

    queue.py         the seam: what any queue implementation must guarantee
    queues/sqlite.py the embedded implementation (one SQLite file, group commit)
    records.py       the invocation record model, as the API shows it
    policy.py        retry, backoff, expiry and instance share, as pure functions
    config.py        async-invoke-config (stored in the metadata database)
    dispatcher.py    claims due jobs within limits and runs them as tasks
    gate.py          at most the async share of a function's instances at once
    worker.py        one attempt of one job, turned into a settlement
    destinations.py  function and webhook destinations
    service.py       submit, get, list, stop, replay (used by the API)

See docs/async.md for the design and the guarantees.
"""
