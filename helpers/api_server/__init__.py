"""The legacy vLLM ``/generate`` server, rebuilt on vLLM's ``AsyncLLM``. Start reading here.

Introduced in chapter 00, which runs it; the README's "Why helpers.api_server exists" says
what it fixes. vLLM no longer ships ``vllm.entrypoints.api_server`` (it moved to the
repository's examples), so the course carries this replacement. Start it with::

    python -m helpers.api_server                       # the bundled model, 127.0.0.1:8000
    python -m helpers.api_server --model facebook/opt-125m --port 8000
    python -m helpers.api_server --host 0.0.0.0 --api-key "$KEY"   # a workshop server

Every vLLM engine argument works (``--max-model-len``, ``--dtype`` ...). The wire
format is the legacy one: ``{"text": [prompt + completion, ...]}``, or with
``"stream": true`` one cumulative JSON object per line. What it adds: every
candidate in every answer, real beam search (``use_beam_search``, vLLM's own
implementation, as in ``/v1/completions``), 400 answers that name the bad field
where the original answered ``500 Internal Server Error``, aborting requests
whose client left, Prometheus ``/metrics`` and an optional API key.

A dead engine is never silent: a stream it breaks ends with one error line
(``{"error": {..., "type": "engine_dead_error", "code": 503}}``) and then the
connection closes *without* the chunked terminator, so every client sees a
broken transfer; other requests get 503, ``/health`` answers 503, and the
process exits with status 1 a moment later, so a supervisor or the course's
launcher can start a fresh one.

The modules, in reading order:

- :mod:`~helpers.api_server.app`: the three routes (``/health``, ``/metrics``, ``/generate``);
- :mod:`~helpers.api_server.server`: :class:`LegacyServer`, the work on one engine;
- :mod:`~helpers.api_server.params`: a checked request → vLLM's sampling parameters (pure);
- :mod:`~helpers.api_server.answers`: vLLM's outputs → the JSON answer, logprobs too (pure);
- :mod:`~helpers.api_server.engine_death`: :class:`EngineDeath`, what a dead engine answers;
- :mod:`~helpers.api_server.asgi`: the API key, body reading, clients that leave, streams
  that break;
- :mod:`~helpers.api_server.messages`: the error format and the messages TROUBLESHOOTING.md
  quotes;
- :mod:`~helpers.api_server.cli`: the command line (``__main__`` runs it).

The request itself is checked before all this by :mod:`helpers.api_server.payload` (the body)
over :mod:`helpers.api_server.fields` (one field's type, and the few bounds vLLM lacks: vLLM's
own checks decide every other value). Importing the package imports none of its modules (the
validator runs on an attendee's machine, without the server's packages); import each module
by its name.
"""

