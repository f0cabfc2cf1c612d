"""`.venv/bin/python -m clients.soap`: the SOAP API from the command line, envelopes built with lxml.

Each function builds one SOAP 1.1 envelope by hand, so you can see every element, and
posts it; copy any of them into your own program. `--zeep` makes the same call through
zeep, a client that reads the WSDL and builds the envelope for you. `--show-wire` prints
the HTTP bytes that really crossed (for zeep too: it is given the same tapped session).
"""
import sys

import requests
import zeep
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from . import addresses, calls, cli
from . import credentials as creds
from .wire import Tap, show, tapped_session


class SoapClient:
    def __init__(self, url: str | None = None, auth: str = "key", user: str = "alice",
                 tap: Tap | None = None, token_url: str | None = None):
        self.secrets = creds.load(user)
        # A client certificate is presented on the TLS port only.
        self.user, self.auth, self.url = user, auth, url or addresses.soap_url(tls=auth == "mtls")
        self.session = tapped_session(tap) if tap else requests.Session()
        self.session.trust_env = False   # our CA, not REQUESTS_CA_BUNDLE's
        self.credential = creds.credential(auth, user, self.secrets, lambda: creds.fetch_token(
            token_url or addresses.token_url(), self.secrets, self.session))
        if auth == "mtls":
            self.session.cert = (self.secrets["cert"], self.secrets["key"])
            self.session.verify = self.secrets["ca"]

    def envelope(self, operation: str, **fields) -> bytes:
        """<Envelope><Header>credential</Header><Body><operation>fields…</operation></Body></Envelope>,
        built by clients/calls.py (where the other protocols' calls stand beside it), indented."""
        return etree.tostring(etree.fromstring(calls.envelope(operation, fields, self.credential)), pretty_print=True,
                              xml_declaration=True, encoding="UTF-8")

    def call(self, operation: str, **fields) -> requests.Response:
        # SOAP 1.1 over HTTP: always POST, text/xml, and a SOAPAction header naming the operation.
        return self.session.post(self.url, data=self.envelope(operation, **fields),
                                 headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'})

    def wsdl(self) -> requests.Response:
        return self.session.get(self.url + "?wsdl")

    def who_am_i(self):
        return self.call("WhoAmI")

    def list_moods(self):
        return self.call("ListMoods")

    def search_tracks(self, mood=None, composer=None, era=None, text=None, page_size=None, page_token=None):
        return self.call("SearchTracks", mood=mood, composer=composer, era=era, text=text,
                         page_size=page_size, page_token=page_token)

    def get_track(self, track_id):
        return self.call("GetTrack", track_id=track_id)

    def create_playlist(self, name, mood=None, track_ids=None):
        return self.call("CreatePlaylist", name=name, mood=mood, track_ids=track_ids)

    def generate_playlist(self, mood, duration_minutes, name=None):
        return self.call("GeneratePlaylist", mood=mood, duration_minutes=duration_minutes, name=name)

    def get_playlist(self, playlist_id):
        return self.call("GetPlaylist", playlist_id=playlist_id)

    def list_playlists(self, page_size=None, page_token=None):
        return self.call("ListPlaylists", page_size=page_size, page_token=page_token)

    def update_playlist(self, playlist_id, version, name=None, mood=None, track_ids=None):
        return self.call("UpdatePlaylist", playlist_id=playlist_id, version=version, name=name, mood=mood,
                         track_ids=track_ids)

    def add_track(self, playlist_id, track_id, position=None):
        return self.call("AddTrack", playlist_id=playlist_id, track_id=track_id, position=position)

    def remove_track(self, playlist_id, position):
        return self.call("RemoveTrack", playlist_id=playlist_id, position=position)

    def delete_playlist(self, playlist_id):
        return self.call("DeletePlaylist", playlist_id=playlist_id)

    def echo(self, message="hello, endpoint"):
        return self.call("Echo", message=message)


class ZeepClient(SoapClient):
    """The same operations, but zeep builds each envelope from the WSDL."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        wsse = UsernameToken(self.user, self.secrets["password"]) if self.auth == "basic" else None
        proxy = zeep.Client(self.url + "?wsdl", transport=Transport(session=self.session), wsse=wsse)
        # The WSDL names the server's public address; post to the one we were given instead.
        self.service = proxy.create_service(f"{{{calls.TNS}}}Playlists", self.url)

    def call(self, operation: str, **fields):
        headers = {"key": "ApiKey", "bearer": "AccessToken"}   # the WSDL's header elements
        kind = self.credential[0] if self.credential else None
        fields = {k: ({"track_id": v} if k == "track_ids" else v) for k, v in fields.items() if v is not None}
        return getattr(self.service, operation)(**fields, _soapheaders={headers[kind]: self.credential[1]}
                                                if kind in headers else None)


def main(argv=None) -> int:
    p, _ = cli.parser(".venv/bin/python -m clients.soap", "Call the SOAP API.",
                      f"endpoint (default {addresses.soap_url()}, with --auth mtls {addresses.soap_url(tls=True)}; "
                      "set by PLAYLISTS_HOST, PLAYLISTS_SOAP_PORT and PLAYLISTS_SOAP_TLS_PORT)")
    p.add_argument("--zeep", action="store_true", help="let zeep build the envelope from the WSDL instead")
    args = p.parse_args(argv)
    tap = Tap()
    try:
        client = (ZeepClient if args.zeep else SoapClient)(args.server, args.auth, args.user, tap)
        tap.clear()   # fetching a token or the WSDL is not part of the call shown
        answer = cli.call(client, args, skip={"zeep"})
    except requests.ConnectionError as error:
        raise SystemExit(f"cannot reach the SOAP server: {error.__class__.__name__} (is `make serve` running?)")
    except zeep.exceptions.Fault as fault:
        answer = fault
    if args.show_wire:
        show(tap, sys.stdout)
    elif isinstance(answer, requests.Response):
        print(f"{answer.status_code} {answer.reason}")
        print(etree.tostring(etree.fromstring(answer.content), pretty_print=True).decode().rstrip())
    else:
        print(answer if not isinstance(answer, zeep.exceptions.Fault) else f"Fault {answer.code}: {answer.message}")
    failed = isinstance(answer, zeep.exceptions.Fault) or (isinstance(answer, requests.Response) and not answer.ok)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
