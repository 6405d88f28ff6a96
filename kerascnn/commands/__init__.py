"""Subcommands of the ``kerascnn`` command, one module each (see :mod:`kerascnn.cli`)."""
