"""The one error type users see: the CLI prints its message and exits with code 2."""


class HwsimError(Exception):
    """A problem with user input (a file, a flag, a model); the message says what and what is allowed."""


class ConfigError(HwsimError):
    """A hardware configuration file is malformed or has a value outside what is allowed."""
