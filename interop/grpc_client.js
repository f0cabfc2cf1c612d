// An outside gRPC client: @grpc/grpc-js with @grpc/proto-loader reading protos/ at run time
// (no generated code). It prints one JSON object that tests/test_interop.py checks.
//
//   GRPC_API_KEY=... node grpc_client.js 127.0.0.1:50051 PROTO_ROOT
//   GRPC_CA=ca.pem GRPC_CERT=alice.pem GRPC_KEY=alice.key node grpc_client.js 127.0.0.1:50052 PROTO_ROOT
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function client(target, protoRoot) {
  const definition = protoLoader.loadSync(path.join(protoRoot, 'playlist/v1/playlist.proto'), {
    includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true,
  });
  const { Playlists } = grpc.loadPackageDefinition(definition).playlist.v1;
  const credentials = process.env.GRPC_CERT
    // Mutual TLS: we check the server against the demo CA, it checks our certificate.
    ? grpc.credentials.createSsl(fs.readFileSync(process.env.GRPC_CA), fs.readFileSync(process.env.GRPC_KEY),
      fs.readFileSync(process.env.GRPC_CERT))
    : grpc.credentials.createInsecure();
  // The server certificate names localhost and 127.0.0.1; TLS SNI may not carry an IP address.
  return new Playlists(target, credentials, process.env.GRPC_CERT ? { 'grpc.ssl_target_name_override': 'localhost' } : {});
}

function metadata() {
  const md = new grpc.Metadata();
  if (process.env.GRPC_API_KEY) md.set('x-api-key', process.env.GRPC_API_KEY);
  return md;
}

function unary(stub, name, request) {
  return new Promise((resolve, reject) => {
    stub[name](request, metadata(), { deadline: Date.now() + 10000 }, (error, response) => (
      error ? reject(error) : resolve(response)));
  });
}

function serverStream(stub, name, request) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const call = stub[name](request, metadata(), { deadline: Date.now() + 20000 });
    call.on('data', (message) => messages.push(message));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

function bidiStream(stub, name, requests) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const call = stub[name](metadata(), { deadline: Date.now() + 20000 });
    call.on('data', (message) => messages.push(message));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
    requests.forEach((request) => call.write(request));
    call.end();
  });
}

async function main() {
  const [target, protoRoot] = process.argv.slice(2);
  const stub = client(target, protoRoot);
  const out = {};
  out.whoami = await unary(stub, 'WhoAmI', {});
  out.search = await unary(stub, 'SearchTracks', { mood: 'calm', page_size: 3 });
  const ids = out.search.items.map((t) => t.id);
  out.created = await unary(stub, 'CreatePlaylist', { name: 'grpc-js', mood: 'calm', track_ids: ids });
  out.played = await serverStream(stub, 'PlayPlaylist', { id: out.created.id, ms_per_second: 1 });
  out.radio = await bidiStream(stub, 'MoodRadio', [{ mood: 'calm' }, { mood: 'joyful' }]);
  try {
    await unary(stub, 'GetTrack', { id: 'no-such-track' });
    out.error = null;
  } catch (error) {
    out.error = { code: error.code, name: grpc.status[error.code], details: error.details };
  }
  stub.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`grpc_client: ${error.stack || error}\n`);
  process.exit(1);
});
