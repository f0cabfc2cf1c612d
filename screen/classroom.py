"""The class's pages: /workshop for a seat (sign in, goals, hints, checks, switches, the
seat's files) and /class for the trainer (the scoreboard, resets, the live view's link).

Both are static pages whose script calls the workshop API (rest/workshop.py) with the key
the visitor typed, kept in the tab's sessionStorage: the page itself holds no secret.
"""
from flask import Blueprint, render_template

from .pages import CSP, settings

class_pages = Blueprint("class_pages", __name__)


@class_pages.after_request
def no_outside_requests(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@class_pages.get("/workshop")
def workshop():
    """A seat's exercises, in the browser: the same as `python -m workshop --server URL`."""
    return render_template("workshop.html", classroom=settings().classroom)


@class_pages.get("/class")
def trainer():
    """The trainer's scoreboard, live: seats × exercises."""
    return render_template("class.html", classroom=settings().classroom)
