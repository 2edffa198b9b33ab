"""The CLI's two kinds of failure, shared by its modules."""


class UsageError(Exception):
    """Wrong combination of arguments: exit code 2, with the sub-command's usage."""


class InputError(ValueError):
    """Bad input data: the message names the line (and byte offset where it applies)."""
