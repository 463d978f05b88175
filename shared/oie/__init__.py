"""Open Images Explorer: the library every function shares."""

__version__ = "0.1.0"
