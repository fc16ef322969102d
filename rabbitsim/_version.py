"""The package version, alone in a module that imports nothing: the packaging metadata reads
it from here (pyproject's dynamic version), and the wire adapter announces it to clients in
connection.start without loading the package face."""

__version__ = "0.1.0"
