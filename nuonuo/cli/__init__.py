"""The ``nuonuo`` command. Each command parses its flags, calls the library, formats: nothing more."""

from nuonuo.cli.main import main

__all__ = ["main"]
