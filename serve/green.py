"""Make this process cooperative (gevent) before anything else is imported.

`python -m rest` and `python -m soap` import this first. gunicorn's gevent worker would patch
the standard library itself, but only when the worker starts: a lock or semaphore created
earlier, when the app's modules were imported, would stay a real OS lock, and a greenlet
waiting on one would stop every other connection of its worker.
"""
from gevent import monkey

monkey.patch_all()
