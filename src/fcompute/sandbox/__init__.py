"""Sandboxes: how an instance's process tree is started, confined and killed."""
