"""Helpers of the vLLM HTTP course (each module says which chapter introduces it).

Client side (needs only the ``libs`` or ``client`` profile): :mod:`helpers.settings`,
:mod:`helpers.servers` and :mod:`helpers.launcher` (the registry of server kinds; start,
reuse, stop), :mod:`helpers.client` and :mod:`helpers.aclient` (sync and async clients over
one I/O-free core, :mod:`helpers.protocol`), :mod:`helpers.stream`, :mod:`helpers.errors`,
:mod:`helpers.metrics`, :mod:`helpers.diagnosis`, :mod:`helpers.playground`,
:mod:`helpers.colab` (the Colab setup), :mod:`helpers.room` (a workshop room and its card),
:mod:`helpers.setup_check` (the attendees' check before a workshop), :mod:`helpers.ports`
(free ports for the tests and benchmarks), :mod:`helpers.checks` (the exercises' checkers:
one module a chapter over a small framework). Server side (``cpu``,
``gpu`` or ``colab`` profile): :mod:`helpers.api_server`, :mod:`helpers.payload`,
:mod:`helpers.model`, :mod:`helpers.runtime`. Importing this package does nothing.
"""
