"""The runtime agent and its wire protocol. Standard library only: it runs inside instances."""
