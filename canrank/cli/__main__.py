"""``python -m canrank.cli``: the command line."""

from canrank.cli import main

main()
