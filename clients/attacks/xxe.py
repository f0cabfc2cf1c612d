"""XXE: a SOAP envelope whose DTD points an external entity at /etc/passwd (XML external entities)."""
import sys

from .common import answered, load, run_one, say, sent, title, verdict

ENVELOPE = """<?xml version="1.0"?>
<!DOCTYPE soap:Envelope [<!ENTITY stolen SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:p="urn:playlists:v1">
  <soap:Header><p:ApiKey>{key}</p:ApiKey></soap:Header>
  <soap:Body><p:CreatePlaylist><p:name>&stolen;</p:name></p:CreatePlaylist></soap:Body>
</soap:Envelope>"""


def run(targets, args):
    title("XXE (XML external entity)", """
        Mallory, with a valid key, asks the SOAP server to name a playlist after the contents of
        /etc/passwd: a parser that expands the entity would store the file, and send it back.""")
    key = load("alice")["api_key"]
    sent("soap", "POST /soap  CreatePlaylist", "with this envelope:")
    for line in ENVELOPE.format(key=key[:10] + "…").splitlines():
        say(f"       │ {line}")
    answer = targets.soap("CreatePlaylist", raw=ENVELOPE.format(key=key).encode())
    answered(answer)
    stopped = answer.kind != "ok" and answer.status.startswith("Client") and b"root:" not in answer.raw
    return verdict(stopped, "the SOAP guard (no DTD, no entities)",
                   "the guard refuses any DTD before the parser runs (SOAP 1.1 forbids them), and the "
                   "parser never resolves entities nor fetches anything")


if __name__ == "__main__":
    sys.exit(run_one(sys.modules[__name__]))
