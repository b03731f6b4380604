"""The one error the commands raise: `main` prints its message on one line and exits 1."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on; its message is all they see (no traceback)."""
