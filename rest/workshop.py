"""The workshop API, served in class mode: a seat's exercises, hints, checks and defence
switches, and the trainer's scoreboard and resets (the `workshop` tag of /openapi.json).

A seat's user authenticates as for any call (any of the four credentials); the trainer
sends the key in class/trainer.json as X-API-Key. These calls are not journalled: the
journal is the evidence the checks read, and a check must not count itself.
"""
from flask import Blueprint, jsonify, request

from core import classroom
from core.errors import FieldViolation, Forbidden, InvalidArgument, NotFound, Unauthenticated
from workshop.classroom import SeatWorkshop, reset_seat, scoreboard
from workshop.exercises import EXERCISES
from workshop.reset import reset

# rest.app imports this module to register it: its names are looked up when a call comes.
from . import app as rest

workshop = Blueprint("workshop", __name__)
NO_STORE = {"Cache-Control": "no-store"}    # answers holding secrets: no cache may keep them


def service():
    """The core, once we know the server runs a class."""
    playlists = rest.service()
    if not playlists.settings.classroom:
        raise NotFound("the workshop API is served in class mode only: make class SEATS=N")
    return playlists


def caller_seat() -> SeatWorkshop:
    """The calling user's seat: step 2, as for every call of the API."""
    identity = rest.service().authenticate(rest.credential_from_request(), request.remote_addr)
    playlists = service()
    name = classroom.seat_of(playlists.db, identity.user)
    if name is None:
        raise Forbidden(f"{identity.user} has no seat in this class")
    return SeatWorkshop(playlists.settings, playlists.db, name)


def trainer() -> None:
    """The trainer's key, in X-API-Key. No key at all is a 401 whatever the mode: the header is
    what the operation requires, before anything else."""
    key = request.headers.get("X-API-Key", "")
    playlists = service() if key else rest.service()
    if not (key and classroom.is_trainer(playlists.settings.home, key)):
        # A wrong key has no user to charge: it spends its address's budget, as any bad credential does.
        playlists.refused_unread(request.remote_addr)
        raise Unauthenticated("send the trainer's key (class/trainer.json) in X-API-Key")


def exercise(number: int):
    if not 1 <= number <= len(EXERCISES):
        raise NotFound(f"no exercise {number}: they are numbered 1 to {len(EXERCISES)}")
    return EXERCISES[number - 1]


def seat_for_code() -> str:
    """The seat whose card holds the code sent (a form field or JSON); 401 for any other."""
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else request.form.get("code")
    if not isinstance(code, str):
        raise InvalidArgument(FieldViolation("code", "is required: the seat code printed on your card"))
    playlists = service()
    name = classroom.seat_by_code(playlists.db, code)
    if name is None:
        playlists.refused_unread(request.remote_addr)
        raise Unauthenticated("no seat has this code: it is printed on your card")
    return name


# --- a seat -----------------------------------------------------------------------------------

@workshop.get("/v1/workshop/exercises")
def list_exercises():
    """Every exercise, with the hints this seat has seen and when it started and solved each."""
    return jsonify(items=caller_seat().exercises())


@workshop.post("/v1/workshop/exercises/<int:number>:start")
def start_exercise(number):
    """Open an exercise: its check counts only calls made from now on."""
    return jsonify(caller_seat().start(exercise(number)))


@workshop.post("/v1/workshop/exercises/<int:number>:hint")
def hint_exercise(number):
    """Show the next hint, one at a time."""
    return jsonify(caller_seat().hint(exercise(number)))


@workshop.post("/v1/workshop/exercises/<int:number>:check")
def check_exercise(number):
    """Check the exercise against the calls this seat's users made since it started."""
    result = caller_seat().check(exercise(number))
    return jsonify(solved=result.solved, message=result.message)


@workshop.get("/v1/workshop/defences")
def list_defences():
    """Each defence, and whether it is on for this seat."""
    return jsonify(caller_seat().defences())


@workshop.put("/v1/workshop/defences/<name>")
def switch_defence(name):
    """Switch a defence off (or back on) for this seat's two users only."""
    sandbox = caller_seat()
    if name not in classroom.DEFENCES:
        raise NotFound(f"no defence {name!r}: they are {', '.join(classroom.DEFENCES)}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        raise InvalidArgument(FieldViolation("enabled", "send {\"enabled\": false} or {\"enabled\": true}"))
    classroom.switch(sandbox.db, sandbox.seat, name, body["enabled"])
    return jsonify(sandbox.defences())


@workshop.post("/v1/workshop/signin")
def sign_in():
    """Trade a seat code for the seat's first user and API key (the /workshop page's sign-in)."""
    name = seat_for_code()
    user = classroom.users_of(name)[0]
    key = classroom.seat_credentials(service().settings.home, name)["users"][user]["api_key"]
    return jsonify(seat=name, user=user, api_key=key), 200, NO_STORE


@workshop.post("/v1/workshop/bundle")
def download_bundle():
    """The seat's home as a zip (credentials.json and tls/), for a seat code."""
    name = seat_for_code()
    return (classroom.bundle(service().settings.home, name), 200,
            {"Content-Type": "application/zip", "Content-Disposition": f'attachment; filename="{name}.zip"',
             **NO_STORE})


# --- the trainer ------------------------------------------------------------------------------

@workshop.get("/v1/workshop/scoreboard")
def get_scoreboard():
    """Seats × exercises: started, solved, hints used; which defences each seat switched off; and
    the viewer key, which opens the live view (/live?key=…) and nothing else."""
    trainer()
    return jsonify({**scoreboard(service().db), "viewer_key": classroom.viewer_key(service().settings.home)})


@workshop.post("/v1/workshop/seats/<seat>:reset", endpoint="reset_seat")
def reset_one_seat(seat):
    """A fresh start for one seat; its secrets stay."""
    trainer()
    if seat not in classroom.seats(service().db):
        raise NotFound(f"no seat {seat!r}")
    reset_seat(service().db, seat)
    return "", 204


@workshop.post("/v1/workshop/seats:reset")
def reset_room():
    """A fresh start for the whole room (the next group); every secret stays."""
    trainer()
    reset(service().settings)
    return "", 204
