"""The one error type for bad input: the CLI prints its message as one line and exits 2."""


class InputError(ValueError):
    """Bad user input (data, config, flags). The message names the file, column or key and what was expected."""
