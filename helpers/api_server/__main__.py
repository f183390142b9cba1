"""``python -m helpers.api_server [options]`` (chapter 00 runs it): see :mod:`.cli`."""

from helpers.api_server.cli import main

main()
