"""AnonConsole: the lifecycle of anonymous users in a Descope project."""

__version__ = "0.1.0"
