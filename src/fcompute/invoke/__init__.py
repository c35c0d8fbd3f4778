"""The invocation path: resolve a function, lease an instance, run, report."""
