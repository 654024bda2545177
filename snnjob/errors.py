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


class ResultsError(SnnjobError):
    """A run folder's results cannot be read (missing, not a run, damaged), or runs given
    to ``snnjob compare`` cannot be compared (different test images)."""


class RunFailedError(SnnjobError):
    """A run that had started failed (exit code 1); its message is its cause's."""


# Exit codes of the CLI. Bad input is refused with 2 wherever it is found (also once the
# run started: a cluster that can never run the request, a folder in use); anything else
# that ends a started run is 1.
EXIT_FAILED = 1
EXIT_USAGE = 2  # also argparse's code for a bad command line
INPUT_ERRORS = (ConfigError, DataError, ParamsError, RunDirError, ResultsError)
