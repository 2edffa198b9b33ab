"""Exception types of imdb_edge."""


class ModelError(ValueError):
    """A model or vocabulary file is missing, corrupt, or does not fit this runtime.

    The message always names the file and the problem.
    """


class DataError(ValueError):
    """Data is missing, corrupt, incomplete or unusable; the message says what and where."""
