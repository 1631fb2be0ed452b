"""Errors a service raises for the API and UI to turn into clear 4xx answers."""


class ActionError(Exception):
    """A request that cannot be done as asked (maps to 400 or 409 with this message)."""

    status_code = 400

    def __init__(self, message, field=None):
        self.field = field
        super().__init__(message)


class Conflict(ActionError):
    status_code = 409


class NotPermitted(ActionError):
    status_code = 403
