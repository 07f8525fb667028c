"""The ``canrank`` command line: a thin typer layer over the Python API.

One module per command in this package; each registers itself on :data:`app` from
:mod:`canrank.cli.common`. Every user-fixable problem is printed as one message on stderr with
exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import importlib
import sys

from canrank.cli.common import app, err

__all__ = ["app", "main"]

#: Command modules, in the order ``canrank --help`` lists them.
COMMANDS = (
    "build",
    "explain",
    "summaries",
    "map",
    "compare",
    "sensitivity",
    "report",
    "sources",
    "fetch",
)

for _name in COMMANDS:
    try:
        importlib.import_module(f"canrank.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a command still being written
        if _exc.name != f"canrank.cli.{_name}":
            raise


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
