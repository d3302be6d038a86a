// node-oidc-provider on loopback for tokenmux's tests (tests/it/oidc.rs).
// Usage: node server.mjs KEYS_DIR. Prints {"issuer": URL} on its first
// line once it listens. One client per client authentication method; the
// private_key_jwt clients are registered with the public halves of the
// test keys in KEYS_DIR (crates/tokenmux-jose/tests/keys).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import Provider from 'oidc-provider';

const keys = process.argv[2];
const publicHalf = (file) => {
  const { d, p, q, dp, dq, qi, ...pub } = JSON.parse(fs.readFileSync(path.join(keys, file)));
  return pub;
};
const base = {
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: 'api:read api:write',
};
const pkjwt = (client_id, alg, file) => ({
  ...base,
  client_id,
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: alg,
  jwks: { keys: [publicHalf(file)] },
});
const clients = [
  { ...base, client_id: 'basic', client_secret: 'basic-secret-0123456789', token_endpoint_auth_method: 'client_secret_basic' },
  { ...base, client_id: 'post', client_secret: 'post-secret-0123456789', token_endpoint_auth_method: 'client_secret_post' },
  {
    ...base,
    client_id: 'secret-jwt',
    client_secret: 'a-client-secret-for-hs256-of-32-bytes-or-more',
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
  },
  pkjwt('pk-rs256', 'RS256', 'rsa.jwk'),
  pkjwt('pk-ps256', 'PS256', 'rsa.jwk'),
  pkjwt('pk-es256', 'ES256', 'ec.jwk'),
  pkjwt('pk-eddsa', 'EdDSA', 'ed25519.jwk'),
  { ...base, client_id: 'public', token_endpoint_auth_method: 'none' },
];

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    scopes: ['api:read', 'api:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: () => true },
    },
    clientAuthMethods: [
      'none',
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
    ],
    enabledJWA: {
      clientAuthSigningAlgValues: ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'],
    },
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});
// The test ends by closing stdin: exit then, leaving nothing behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
