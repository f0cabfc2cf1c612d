"""Where a server process is in its life, for the code that must know.

STOPPING is set as the process begins to stop (serve/wsgi.py's worker, on SIGTERM): a response
that would otherwise last, such as a live view's stream, ends at once instead of holding the
shutdown for the whole graceful timeout.
"""
import threading

STOPPING = threading.Event()
