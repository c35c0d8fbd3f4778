"""Code packages addressed by content hash. See ``base.CodeStore``."""
