"""``python -m helpers.api_server [options]``: see :mod:`helpers.api_server.cli`."""

from helpers.api_server.cli import main

main()
