"""fcompute: a self-hosted serverless Function Compute platform.

This package root stays empty on purpose: the runtime agent imports
``fcompute.runtime`` inside every instance, and nothing heavy may load with it.
"""

__version__ = "0.1.0"
