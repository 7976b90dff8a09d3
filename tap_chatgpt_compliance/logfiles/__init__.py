"""Log files of the Compliance Logs Platform: from a listed file to its records.

Owns the download, SHA-256 check, parsing and segmenting of one log file (``logfile``), the
records built from its events (``records``), its raw bytes as parts or stored objects
(``rawlogs``), the tamper-evident chain of ``log_files`` records (``chain``) and the run's seals
over the chain heads (``seals``).

May import: the base modules at the package top, ``http``, ``run``, ``attachments`` (message
events reference attachments; raw bytes share the content store), and itself. Never streams.
"""
