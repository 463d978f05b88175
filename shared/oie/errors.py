"""Errors every entry point answers the same way."""


class Unavailable(RuntimeError):
    """A resource the answer needs cannot be used now (data not imported, no model, ...): 503."""
