"""Implementations of the async queue seam (``fcompute.asyncinvoke.queue``)."""
