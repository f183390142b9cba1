"""Helpers of the vLLM HTTP course.

Client side (needs only the ``client`` profile): :mod:`helpers.client`,
:mod:`helpers.stream`, :mod:`helpers.errors`, :mod:`helpers.settings`,
:mod:`helpers.launcher`. Server side (``cpu`` or ``gpu`` profile):
:mod:`helpers.api_server`, :mod:`helpers.model`. Importing this package does nothing.
"""
