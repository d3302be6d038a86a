// node-oidc-provider on loopback for tokenmux's tests (tests/it/oidc.rs,
// tests/it/mtls.rs). Usage: node server.mjs KEYS_DIR [TLS_DIR]. Prints
// {"issuer": URL} on its first line once it listens. One client per client
// authentication method; the private_key_jwt clients are registered with
// the public halves of the test keys in KEYS_DIR
// (crates/tokenmux-jose/tests/keys). With TLS_DIR (ca.pem, server.pem,
// server.key, self-signed.pem), it serves https, asks every client for a
// certificate, and adds the RFC 8705 clients: `mtls-ca`
// (tls_client_auth, a certificate for DNS name tokenmux-client from the
// CA), `mtls-self` (self_signed_tls_client_auth, self-signed.pem) and
// `basic-bound` (client_secret_basic); each gets certificate-bound tokens.
//
// DPoP (RFC 9449) is on, and every proof must carry the server's nonce;
// `dpop-basic`, `dpop-public` and `dpop-pk` (private_key_jwt) must send proofs (their tokens are bound
// to the proof's key). Beside the authorization server, on the same
// origin, `GET|POST /api/...` is a resource server that checks a DPoP
// token as RFC 9449 §7 says, with panva's `jose`: the proof's signature
// by the key in its header, `typ`, `htm`, `htu`, `ath`, its own nonce
// (a 401 `use_dpop_nonce` with `DPoP-Nonce` first), a `jti` seen once,
// and the token's `cnf.jkt` the proof key's thumbprint.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import Provider from 'oidc-provider';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';

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
  { ...base, client_id: 'dpop-basic', client_secret: 'dpop-secret-0123456789', token_endpoint_auth_method: 'client_secret_basic', dpop_bound_access_tokens: true },
  { ...base, client_id: 'dpop-public', token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true },
  { ...pkjwt('dpop-pk', 'ES256', 'ec.jwk'), dpop_bound_access_tokens: true },
];

const tls = process.argv[3];
const bound = { tls_client_certificate_bound_access_tokens: true };
if (tls) {
  const selfSigned = fs.readFileSync(path.join(tls, 'self-signed.pem'));
  const x509 = new crypto.X509Certificate(selfSigned);
  const jwk = { ...x509.publicKey.export({ format: 'jwk' }), x5c: [x509.raw.toString('base64')] };
  clients.push(
    { ...base, ...bound, client_id: 'mtls-ca', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_san_dns: 'tokenmux-client' },
    { ...base, ...bound, client_id: 'mtls-self', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [jwk] } },
    { ...base, ...bound, client_id: 'basic-bound', client_secret: 'bound-secret-0123456789', token_endpoint_auth_method: 'client_secret_basic' },
  );
}
// The certificate the client presented on this connection, if any.
const peer = (ctx) => {
  const raw = ctx.req.socket.getPeerCertificate?.()?.raw;
  return raw ? new crypto.X509Certificate(raw) : undefined;
};
const mTLS = {
  enabled: true,
  certificateBoundAccessTokens: true,
  tlsClientAuth: true,
  selfSignedTlsClientAuth: true,
  getCertificate: peer,
  certificateAuthorized: (ctx) => ctx.req.socket.authorized === true,
  certificateSubjectMatches: (ctx, property, expected) => {
    const cert = peer(ctx);
    switch (property) {
      case 'tls_client_auth_san_dns':
        return (cert?.subjectAltName ?? '').split(', ').includes(`DNS:${expected}`);
      default:
        return false;
    }
  },
};

// The resource server's nonce, and the proofs it has seen.
const apiNonce = crypto.randomBytes(16).toString('base64url');
const seenProofs = new Set();
async function api(provider, issuer, req, res) {
  const refuse = (error, headers = {}) => {
    res.writeHead(401, { 'www-authenticate': `DPoP error="${error}"`, 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error }));
  };
  const [scheme, token] = (req.headers.authorization ?? '').split(' ');
  if (scheme !== 'DPoP' || !token || !req.headers.dpop) return refuse('invalid_token');
  let payload;
  let jwk;
  try {
    const verified = await jwtVerify(req.headers.dpop, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    ({ payload } = verified);
    jwk = verified.protectedHeader.jwk;
  } catch {
    return refuse('invalid_dpop_proof');
  }
  if (payload.nonce !== apiNonce) return refuse('use_dpop_nonce', { 'dpop-nonce': apiNonce });
  const htu = `${issuer}${req.url.split('?')[0]}`;
  const ath = crypto.createHash('sha256').update(token).digest('base64url');
  const fresh = Math.abs(Date.now() / 1000 - payload.iat) < 60;
  if (payload.htm !== req.method || payload.htu !== htu || payload.ath !== ath || !fresh
      || typeof payload.jti !== 'string' || seenProofs.has(payload.jti)) {
    return refuse('invalid_dpop_proof');
  }
  seenProofs.add(payload.jti);
  // Client credentials tokens are their own model in oidc-provider.
  const stored = await provider.ClientCredentials.find(token) ?? await provider.AccessToken.find(token);
  if (!stored || stored.isExpired || stored.jkt !== await calculateJwkThumbprint(jwk)) {
    return refuse('invalid_token');
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ client_id: stored.clientId, jkt: stored.jkt }));
}

const server = tls
  ? https.createServer({
    key: fs.readFileSync(path.join(tls, 'server.key')),
    cert: fs.readFileSync(path.join(tls, 'server.pem')),
    ca: fs.readFileSync(path.join(tls, 'ca.pem')),
    requestCert: true,
    rejectUnauthorized: false,
  })
  : http.createServer();
server.listen(0, '127.0.0.1', () => {
  const scheme = tls ? 'https' : 'http';
  const issuer = `${scheme}://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    scopes: ['api:read', 'api:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: () => true },
      // RFC 8707: a `resource` names the API a token is for (its `aud`);
      // without one, a token for no particular API, as before.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resource) => ({
          scope: 'api:read api:write',
          audience: resource,
          accessTokenFormat: 'opaque',
        }),
      },
      ...(tls ? { mTLS } : {}),
      dPoP: {
        enabled: true,
        nonceSecret: crypto.randomBytes(32),
        requireNonce: () => true,
      },
    },
    clientAuthMethods: [
      'none',
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      ...(tls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : []),
    ],
    enabledJWA: {
      clientAuthSigningAlgValues: ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'],
      dPoPSigningAlgValues: ['ES256'],
    },
  });
  const oidc = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/api/')) {
      api(provider, issuer, req, res).catch(() => { res.writeHead(500); res.end(); });
    } else {
      oidc(req, res);
    }
  });
  console.log(JSON.stringify({ issuer }));
});
// The test ends by closing stdin: exit then, leaving nothing behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
