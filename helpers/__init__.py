"""Helpers of the vLLM HTTP course (each module says which chapter introduces it).

What a learner reads, here at the top (the ``client`` profile is enough):

- :mod:`helpers.client` and :mod:`helpers.aclient`: the synchronous and asynchronous clients,
  over one I/O-free core, :mod:`helpers.protocol` (with :mod:`helpers._transport`: the URL,
  the key and the clock they both resolve);
- :mod:`helpers.stream` (reading a stream), :mod:`helpers.errors` (every error, named as
  openai-python names them), :mod:`helpers.metrics` (a server's ``/metrics``),
  :mod:`helpers.playground` (chapter 07's app), :mod:`helpers.settings` (every setting);
- :mod:`helpers.api_client`: vLLM's example command-line client.

The rest, each in a package of its own:

- :mod:`helpers.api_server`: the legacy ``/generate`` server (start reading at its
  ``__init__``), with its request validator;
- :mod:`helpers.course`: the course's machinery: the registry of server kinds, the launcher
  (``python -m helpers.course start|stop|status``), a workshop's room, the setup check, the
  bundled model, the device, Colab;
- :mod:`helpers.checks`: the exercises' checkers, one module (or package) a chapter over a
  small framework.

Importing this package does nothing.
"""
