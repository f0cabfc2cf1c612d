"""The XML Schema of the service, written as Spyne models: the `<types>` of the WSDL.

Every element lives in one namespace, TNS. The facets (lengths, ranges) come from
core/limits.py, as the REST contract's do; the service's own rules (a mood must exist, a name must not look
like a card number) stay in core/, where all three protocols share them.
"""
from spyne import Array, ComplexModel, Integer32, Unicode, XmlData

from core import limits

TNS = "urn:playlists:v1"


# Customizing a named type makes Spyne declare an anonymous copy of it for every use
# ("GetTrack_track_idType"); keeping the name keeps the one declaration. (Spyne's own
# Mandatory() helper, for its part, declares its types in a namespace of its own.)
def required(model):
    """An element that must appear once and may not be nil."""
    return model.customize(min_occurs=1, nillable=False, type_name=model.get_type_name())


def optional(model):
    """An element that may be left out; when it is there it holds a value."""
    return model.customize(min_occurs=0, nillable=False, type_name=model.get_type_name())


def simple(base, type_name: str, **facets):
    """A named restriction of an XML Schema type, declared once in TNS."""
    return base.customize(type_name=type_name, __namespace__=TNS, **facets)


def array(model):
    """A wrapped list, <tracks><Track>...</Track></tracks>, whose items are never nil."""
    return Array(model.customize(nillable=False))


def strings(member: str, type_name: str):
    """A wrapped list of strings, <moods><mood>calm</mood>...</moods>."""
    # Each list needs a type name of its own: Spyne would call every one "stringArray".
    return Array(Unicode(nillable=False), member_name=member, type_name=type_name)


class Model(ComplexModel):
    __namespace__ = TNS

    class Annotations(ComplexModel.Annotations):
        __use_parent_doc__ = True  # a model's docstring documents its type in the WSDL


# --- the answers ----------------------------------------------------------------------

class Mood(Model):
    name = required(Unicode)
    description = required(Unicode)


class Track(Model):
    id = required(Unicode)
    title = required(Unicode)
    composer = required(Unicode)
    work = required(Unicode(doc="The full work, with its catalogue number."))
    era = required(Unicode)
    year = required(Integer32(doc="Year of composition."))
    duration_seconds = required(Integer32(doc="A typical performance."))
    key = required(Unicode(doc="Empty for music with no key."))
    tempo_bpm = required(Integer32)
    moods = required(strings("mood", "MoodNames"))


class Playlist(Model):
    id = required(Unicode(doc="Opaque and random."))
    owner = required(Unicode)
    name = required(Unicode)
    mood = required(Unicode(doc="Empty when none."))
    tracks = required(array(Track).customize(doc="In play order; positions are 1-based."))
    total_duration_seconds = required(Integer32)
    version = required(Integer32(doc="Grows by one on every change; UpdatePlaylist sends it back."))
    created_at = required(Unicode(doc="ISO 8601, UTC."))
    updated_at = required(Unicode(doc="ISO 8601, UTC."))


class User(Model):
    name = required(Unicode)
    auth_method = required(Unicode)
    scopes = required(strings("scope", "Scopes"))


class Header(Model):
    name = required(Unicode)
    value = required(Unicode)


class Received(Model):
    """What the server received for an Echo: the HTTP headers and the raw envelope."""
    protocol = required(Unicode)
    operation = required(Unicode)
    user = required(Unicode)
    auth_method = required(Unicode)
    headers = required(array(Header))
    body = required(Unicode)


MoodArray = array(Mood)
TrackArray = array(Track)
PlaylistArray = array(Playlist)


# --- the questions: element types of the operations' parameters -----------------------

PlaylistId = simple(Unicode, "PlaylistId", min_len=1, max_len=limits.MAX_ID_LENGTH)
TrackId = simple(Unicode, "TrackId", min_len=1, max_len=limits.MAX_ID_LENGTH)
TrackIds = Array(TrackId.customize(max_occurs=limits.MAX_TRACKS_PER_PLAYLIST, nillable=False, type_name="TrackId"),
                 member_name="track_id", type_name="TrackIds")
Name = simple(Unicode, "Name", min_len=1, max_len=limits.MAX_NAME_LENGTH)
MoodName = simple(Unicode, "MoodName", max_len=limits.MAX_MOOD_LENGTH)
Query = simple(Unicode, "Query", max_len=limits.MAX_QUERY_LENGTH)
PageSize = simple(Integer32, "PageSize", ge=1, le=limits.MAX_PAGE_SIZE)
PageToken = simple(Unicode, "PageToken", max_len=limits.MAX_PAGE_TOKEN_LENGTH)
Version = simple(Integer32, "Version", ge=1)
Position = simple(Integer32, "Position", ge=0, le=limits.MAX_TRACKS_PER_PLAYLIST)
Minutes = simple(Integer32, "Minutes", ge=1, le=limits.MAX_GENERATE_MINUTES)


# --- the credentials a client may put in the envelope's <Header> ----------------------
# Declared here so that the WSDL lists them as soap:header of every operation's input,
# and a client generated from the WSDL can send them. XmlData makes the element's text
# its value: <ApiKey>pk_...</ApiKey>. WS-Security's <Security> header is read with lxml
# (Spyne has no WS-Security), so it is not declared: its schema is OASIS's, not ours.

class ApiKeyHeader(Model):
    """An API key (credentials.json, users.<name>.api_key)."""
    __type_name__ = "ApiKey"
    value = XmlData(Unicode)


class AccessTokenHeader(Model):
    """An OAuth 2.0 bearer token, from the REST server's POST /oauth/token."""
    __type_name__ = "AccessToken"
    value = XmlData(Unicode)
