"""The workshop's screen: the landing page, the three contracts as pages, the live view, /compare.

It knows all three protocols (it reads the WSDL and the gRPC descriptor set and names every
server's address), so it lives beside the adapters, not inside one: the REST server mounts
it at its root, and the REST adapter itself stays translation only.
"""
from flask import Flask

from core import PlaylistService
from rest.app import create_app as create_rest_app

from . import pages


def create_app(service: PlaylistService | None = None) -> Flask:
    """What `python -m rest` serves: the REST API, with the screen's pages beside it."""
    app = create_rest_app(service)
    app.register_blueprint(pages.pages)
    return app
