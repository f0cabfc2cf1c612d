#!/usr/bin/env bash
# Exercise 2, a SOAP envelope by hand: CreatePlaylist, posted with curl, alice proven by a
# WS-Security UsernameToken in the envelope's Header.
# From the repository's root, with `make serve` running:  bash workshop/solutions/02_soap_by_hand.sh
set -eu
SOAP=${SOAP:-http://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_SOAP_PORT:-8081}/soap}
CREDENTIALS=${PLAYLISTS_HOME:-.demo}/credentials.json
PASSWORD=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["users"]["alice"]["password"])' "$CREDENTIALS")

# One endpoint for every operation: the Body's first element names the operation, and
# SOAPAction repeats it for whoever routes HTTP without reading XML. mustUnderstand="1"
# says: if you do not understand this header, fail; never ignore the credential.
curl -si "$SOAP" -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "CreatePlaylist"' --data-binary @- <<EOF
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:playlists:v1">
  <soap:Header>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
                   soap:mustUnderstand="1">
      <wsse:UsernameToken>
        <wsse:Username>alice</wsse:Username>
        <wsse:Password>$PASSWORD</wsse:Password>
      </wsse:UsernameToken>
    </wsse:Security>
  </soap:Header>
  <soap:Body>
    <p:CreatePlaylist>
      <p:name>By hand</p:name>
      <p:mood>calm</p:mood>
      <p:track_ids>
        <p:track_id>bach-bwv1068-air</p:track_id>
      </p:track_ids>
    </p:CreatePlaylist>
  </soap:Body>
</soap:Envelope>
EOF
echo
