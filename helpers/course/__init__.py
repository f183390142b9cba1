"""The course's machinery: the servers it runs and where, not the client a learner reads.

The registry of server kinds (:mod:`~helpers.course.servers`), the launcher that starts,
reuses and stops them (:mod:`~helpers.course.launcher`, over :mod:`~helpers.course.commands`,
:mod:`~helpers.course.handle` and :mod:`~helpers.course.spawn`; its command line is
``python -m helpers.course``), a workshop's room and the attendees' setup check
(:mod:`~helpers.course.room`, :mod:`~helpers.course.setup_check`), the bundled model
(:mod:`~helpers.course.model`), the device and the engine's environment
(:mod:`~helpers.course.runtime`), Colab (:mod:`~helpers.course.colab`), free ports
(:mod:`~helpers.course.ports`), processes and their state files
(:mod:`~helpers.course._processes`), and reading a failed start's log
(:mod:`~helpers.course.diagnosis`). Importing this package does nothing.
"""
