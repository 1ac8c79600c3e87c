"""``bioveil app``: the toolkit in a local web page, for people who never open a terminal.

:mod:`~bioveil.app.security` guards the server, :mod:`~bioveil.app.workspace` keeps the uploads apart
from the user's files, :mod:`~bioveil.app.jobs` runs the long work in the background,
:mod:`~bioveil.app.masking` and :mod:`~bioveil.app.exports` make the downloads with the user's edits,
:mod:`~bioveil.app.server` is the JSON API and the page; the page's files are in ``static/``.
"""
