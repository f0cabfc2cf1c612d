#!/usr/bin/env bash
# Exercise 9, a certificate and no secret: WhoAmI over SOAP's TLS port, as bob, by his certificate alone.
# From the repository's root, with `make serve` running:  bash workshop/solutions/09_client_certificate.sh
set -eu
SOAP_TLS=${SOAP_TLS:-https://${PLAYLISTS_HOST:-127.0.0.1}:${PLAYLISTS_SOAP_TLS_PORT:-8444}/soap}
TLS=${PLAYLISTS_HOME:-.demo}/tls
# No credential in the envelope: the Header is not even there.
ENVELOPE='<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:playlists:v1">
  <soap:Body><p:WhoAmI/></soap:Body>
</soap:Envelope>'

curl -s "$SOAP_TLS" --cacert "$TLS/ca.pem" --cert "$TLS/bob.pem" --key "$TLS/bob.key" \
  -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "WhoAmI"' --data-binary "$ENVELOPE"
echo
# Without a certificate the TLS handshake fails: no request reaches the service, and the journal records nothing.
curl -s "$SOAP_TLS" --cacert "$TLS/ca.pem" -H 'Content-Type: text/xml; charset=utf-8' --data-binary "$ENVELOPE" \
  || echo "without a certificate: refused during the TLS handshake (curl exit code $?)"
