"""The ASGI front door: the FC 2.0 REST API and the HTTP-trigger proxy."""
