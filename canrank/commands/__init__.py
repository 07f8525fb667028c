"""CLI commands beyond ``build``/``sources``/``fetch``, one module each.

Every module here is imported by :mod:`canrank.cli` and registers its commands on ``app``
(``from canrank.cli import app``; ``@app.command()``), so adding a command never edits cli.py.
"""
