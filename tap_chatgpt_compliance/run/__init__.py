"""A run's bookkeeping: what one sync remembers, counts and reports, and how it writes Singer.

Owns the run's spill-to-disk memory and the workspace lease (``store``), the run-scoped state
shared by the streams (``sync``), progress lines (``progress``), the run summary
(``summary``) and the Singer writer with its line limit (``output``).

May import: the base modules at the package top (``errors``, ``settings``, ``timeparse``),
``http`` (the API's clock), and itself. Never log files, attachments or streams: they report
into the run, the run does not reach into them.
"""
