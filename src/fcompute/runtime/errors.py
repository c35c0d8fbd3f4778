"""Stable error types reported for failures of user code, searchable by users.

Standard library only: imported inside every instance.
"""

IMPORT_MODULE = "Runtime.ImportModuleError"
SYNTAX = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
INITIALIZER_ERROR = "Runtime.InitializerError"
INITIALIZER_TIMEOUT = "Runtime.InitializerTimeout"
RESULT_NOT_SERIALIZABLE = "Runtime.ResultSerializationError"
TIMEOUT = "Runtime.Timeout"
EXITED = "Runtime.ExitError"
OUT_OF_MEMORY = "Runtime.OutOfMemory"
START_FAILED = "Runtime.StartError"
WSGI_ERROR = "Runtime.WSGIError"
RESPONSE_TOO_LARGE = "Runtime.ResponseTooLarge"
PROTOCOL_ERROR = "Runtime.ProtocolError"
