"""Instances and the warm pool: the invocation hot path."""
