// A real OpenID Provider for the SSO tests: oidc-provider (OpenID-certified), with its
// development interactions (a login form and a consent form that tests submit like a browser).
//
// Configuration comes from the environment (set by tests/sso/conftest.py):
//   IDP_PORT          port to listen on (127.0.0.1)
//   IDP_REDIRECT_URI  the relying party's callback (Drift's /sso/oidc/callback)
// It prints "ready <issuer>" on stdout once it listens.
//
// Accounts: any login works. The login string is "email" or "email|group1,group2": the
// subject is the whole string, `email` the part before "|", `groups` the rest.
//
// Clients (all confidential, client_secret_basic, PKCE):
//   drift-rs     id_token signed RS256 (the normal case)
//   drift-hs     id_token signed HS256 with the client secret
//   drift-short  RS256, but the id_token lives only 10 seconds
// (oidc-provider refuses to issue unsigned id_tokens at all; the tests forge one instead.)
//
// One extra route serves a mix-up document: /mixup/.well-known/openid-configuration is the
// provider's own discovery document with `issuer` claiming to be <issuer>/mixup, as a
// malicious or misconfigured IdP would serve it; its tokens then carry the real issuer.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const redirectUri = process.env.IDP_REDIRECT_URI;
const issuer = `http://127.0.0.1:${port}`;

function parseLogin(id) {
  const [email, groups] = String(id).split('|');
  return { email, groups: groups ? groups.split(',').filter(Boolean) : [] };
}

const client = (id, extra = {}) => ({
  client_id: id,
  client_secret: `${id}-secret-that-is-long-enough-for-hs256-0123456789`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...extra,
});

const provider = new Provider(issuer, {
  clients: [
    client('drift-rs'),
    client('drift-hs', { id_token_signed_response_alg: 'HS256' }),
    client('drift-short'),
  ],
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'HS256'],
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false, // put the requested claims in the id_token itself
  ttl: {
    IdToken: (ctx, token, cl) => (cl && cl.clientId === 'drift-short' ? 10 : 3600),
  },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const { email, groups } = parseLogin(sub);
    return {
      accountId: sub,
      async claims() {
        return { sub, email, email_verified: true, name: email.split('@')[0], groups };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
});
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  if (req.url === '/mixup/.well-known/openid-configuration') {
    const upstream = await fetch(`${issuer}/.well-known/openid-configuration`);
    const doc = await upstream.json();
    doc.issuer = `${issuer}/mixup`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
    return;
  }
  handler(req, res);
});
server.listen(port, '127.0.0.1', () => { console.log(`ready ${issuer}`); });
