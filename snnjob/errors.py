"""Exceptions raised for bad input. Every message says what was wrong and how to fix it."""


class SnnjobError(Exception):
    """Base class for user-facing errors (the CLI prints these without a traceback)."""


class ConfigError(SnnjobError, ValueError):
    """A config file, key or value is invalid."""


class DataError(SnnjobError):
    """MNIST data is missing, corrupt or cannot be downloaded."""


class ParamsError(SnnjobError):
    """A parameter file is unreadable or does not fit the network it is loaded into."""


class RunDirError(SnnjobError):
    """An output folder holds a different run, or cannot be written."""
