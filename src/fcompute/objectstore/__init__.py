"""The embedded object store: buckets and objects on local disk (``engine``), served to
S3 clients (``s3/``) and OSS clients (``oss/``) on the storage port (``server``), with an
event for every object change (``events``) that OSS triggers turn into invocations."""
