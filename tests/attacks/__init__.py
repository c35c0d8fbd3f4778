"""The sandbox attack battery: function code and host-side helpers."""
