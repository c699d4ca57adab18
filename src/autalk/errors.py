"""Errors a user can act on. The CLI prints their message (naming the file and the problem) without a traceback."""


class AutalkError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigError(AutalkError, ValueError):
    """A config file or value that cannot be used; the message names the key."""


class DataError(AutalkError):
    """An input file that is missing, unreadable or malformed; the message names the file."""


class DownloadError(AutalkError):
    """A transfer that failed after its retries, or a file that failed verification."""
