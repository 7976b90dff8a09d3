"""Attachments: fetching, verifying and keeping the files messages reference.

Owns the download of one attachment with its spool and SHA-256, the content store
(``file_storage_url``, also used for raw log files) and record building (``archive``), the
retry list of attachments not yet archived (``pending``) and the threads that fetch them ahead
of the main thread (``pipeline``).

May import: the base modules at the package top, ``http``, ``run``, and itself. Never
``logfiles`` or streams.
"""
