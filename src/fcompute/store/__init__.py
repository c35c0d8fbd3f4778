"""Metadata store: services, functions, triggers. See ``base.Store`` for the contract."""
