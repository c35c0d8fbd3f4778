"""The front door's connection handling: deadlines for slow requests and a cap on connections.

uvicorn bounds idle keep-alive connections but not a request that arrives slowly, and it
accepts connections until the process runs out of file descriptors, at which point the
database, instance sockets and code files fail for everyone. This package closes a
connection whose request head or body is too slow (``protocol.py``), raises the open-file
limit and derives a connection cap from it (``capacity.py``), and at the cap makes room by
evicting the connections that are only waiting (``table.py``).
"""
