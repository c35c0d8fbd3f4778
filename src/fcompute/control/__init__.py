"""The control layer: the one way resources change.

One service per resource takes typed commands (``commands``) and returns typed records
(``fcompute.model``); every change is announced on :class:`events.ChangeEvents`. Front
doors (the FC REST API, later the console and a Lambda API) only translate their wire
formats into commands and records back.
"""
