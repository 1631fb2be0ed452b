"""Typed errors of the OVN gateway. Callers catch these, never ovsdbapp's exceptions."""


class OvnError(Exception):
    """Base of every OVN gateway error."""


class OvnUnreachable(OvnError):
    """The Northbound database did not answer (down, wrong endpoint, timeout)."""


class OvnNotConfigured(OvnError):
    """No Northbound endpoint is configured."""


class OvnTransactionFailed(OvnError):
    """The Northbound database refused a transaction (constraint, missing reference...)."""


class OvnRowMissing(OvnError):
    """A row the request depends on is not in the Northbound database."""
