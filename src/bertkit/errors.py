"""Errors that bertkit raises for expected mistakes (bad input, missing files, wrong formats).

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class BertkitError(Exception):
    """An expected failure whose message says what went wrong and what to do about it."""


class ConfigError(BertkitError):
    """A config.json that is missing, malformed or inconsistent."""


class CheckpointError(BertkitError):
    """A checkpoint folder or weight file that cannot be used."""


class InputError(BertkitError):
    """User data (text, files, labels) that cannot be processed as given."""
