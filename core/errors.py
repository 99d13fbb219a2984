"""The one base of Assay's domain errors: a message for people, and the input fields it concerns."""

from __future__ import annotations


class AssayError(ValueError):
    """A request the domain refuses; `fields` maps input fields to messages.

    Services raise a subclass (AuditError, WatermarkError …); the API answers it with a 400 in the
    one error shape (core.api.exception_handler), pages show its message, and a job that raises
    one ends failed with it as its error.
    """

    def __init__(self, message: str = "", fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}
