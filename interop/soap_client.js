// An outside SOAP client: node's `soap` package, generated at run time from the served WSDL.
// It knows only the WSDL's address, the address to post to, and a credential from the
// environment; it prints one JSON object that tests/test_interop.py checks.
//
//   SOAP_AUTH=apikey SOAP_API_KEY=... node soap_client.js WSDL_URL ENDPOINT
//   SOAP_AUTH=wsse SOAP_USER=alice SOAP_PASSWORD=... node soap_client.js WSDL_URL ENDPOINT
'use strict';
const soap = require('soap');

const TNS = 'urn:playlists:v1';

async function main() {
  const [wsdlUrl, endpoint] = process.argv.slice(2);
  const client = await soap.createClientAsync(wsdlUrl, { endpoint });
  if (process.env.SOAP_AUTH === 'wsse') {
    // WS-Security UsernameToken, PasswordText: the password travels as text (use TLS).
    client.setSecurity(new soap.WSSecurity(process.env.SOAP_USER, process.env.SOAP_PASSWORD,
      { passwordType: 'PasswordText', hasTimeStamp: false, hasNonce: false }));
  } else {
    // The <ApiKey> header the WSDL declares on every operation's input.
    client.addSoapHeader({ ApiKey: process.env.SOAP_API_KEY }, '', 'tns', TNS);
  }
  const out = { operations: Object.keys(client.describe().Playlists.Playlists), requests: [] };
  const call = async (name, args) => {
    const [result] = await client[`${name}Async`](args);
    out.requests.push(client.lastRequest);
    return result;
  };
  out.whoami = await call('WhoAmI', {});
  out.search = await call('SearchTracks', { mood: 'calm', page_size: 2 });
  const created = await call('CreatePlaylist', {
    name: 'node-soap', mood: 'calm', track_ids: { track_id: ['bach-bwv1007-prelude'] },
  });
  out.created = created;
  out.added = await call('AddTrack', { playlist_id: created.playlist.id, track_id: 'bach-bwv1068-air' });
  try {
    await call('GetTrack', { track_id: 'no-such-track' });
    out.fault = null;
  } catch (error) {
    // A Fault: node-soap rejects with the parsed envelope in error.root.
    out.requests.push(client.lastRequest);
    out.fault = error.root && error.root.Envelope.Body.Fault;
    out.fault_status = error.response && error.response.status;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`soap_client: ${error.stack || error}\n`);
  process.exit(1);
});
