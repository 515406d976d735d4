"""The serving error hierarchy; the HTTP layer turns these into status codes, `serve` into exit codes."""

from __future__ import annotations


class ServingError(Exception):
    """Base class: a message safe to show a client, and the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ServingError):
    """The request body cannot be read as records for this model (says where: line, column, key)."""

    status = 400


class NotAcceptableError(ServingError):
    """The Accept header asks for a format the server does not write."""

    status = 406


class RequestTimeoutError(ServingError):
    """The client stopped sending its body for longer than LEAFLINE_READ_TIMEOUT."""

    status = 408


class PayloadTooLargeError(ServingError):
    """The body is larger than SAGEMAKER_MAX_PAYLOAD_IN_MB."""

    status = 413


class UnsupportedMediaTypeError(ServingError):
    """The Content-Type is not one the server reads."""

    status = 415


class ModelNotReadyError(ServingError):
    """A request arrived before the model finished loading."""

    status = 503


class ConfigurationError(ServingError):
    """An environment variable has a value the server cannot use (names the variable)."""


class ModelLoadError(ServingError):
    """The model cannot be fetched or loaded (names the file and the reason)."""
