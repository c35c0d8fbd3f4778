"""The ``fcompute`` command line: a thin layer over ``fcompute.sdk``."""
