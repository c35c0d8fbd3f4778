"""The Linux sandbox: namespaces, cgroups, a read-only root, seccomp, forked from a zygote.

Modules used inside the zygote and its children (``libc``, ``namespaces``, ``mounts``,
``credentials``, ``cgroups``, ``wire``, ``zygote``) are standard library only; ``backend``
and ``seccomp.build_filter`` run in the platform. See ``docs/sandbox.md``.
"""
