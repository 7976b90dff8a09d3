"""The wire: every request the tap sends to the Compliance API and its signed download host.

Owns the HTTP session and its retries (``transport``), host name lookups bounded by the connect
timeout (``resolve``), per-route pacing (``pacing``), the
``Retry-After`` arithmetic (``retry``), the listing paginators (``pagination``), downloads
through the 307 redirect (``downloads``) and the API's clock (``clock``, from its ``Date``).

May import: the base modules at the package top (``errors``, ``settings``, ``timeparse``) and
itself. Nothing here knows about log files, attachments, records or streams.
"""
