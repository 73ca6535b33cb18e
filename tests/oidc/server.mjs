// A certified OpenID provider (the oidc-provider package) for the council sign-in tests, on
// 127.0.0.1 only. Usage:
//   node server.mjs PORT REDIRECT_URI ACCOUNTS_JSON [ISSUER]
// ACCOUNTS_JSON is read on every sign-in, so a test can remove someone's group or disable
// them while the provider runs: { "login": { "email": ..., "groups": [...], "amr": [...],
// "disabled": false } }. The login page takes any listed login (no password: a test stand-in
// for the council's own MFA, whose result is the "amr" the account lists).
import fs from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';

import Provider from 'oidc-provider';

const [port, redirectUri, accountsFile, issuerArg] = process.argv.slice(2);
const issuer = issuerArg || `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(fs.readFileSync(accountsFile, 'utf8'));

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'databook-portal',
    client_secret: 'test-only-client-secret-0123456789abcdef',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  // amr and acr with the openid scope, as Entra ID and most providers send them.
  claims: {
    iss: null, sid: null,
    openid: ['sub', 'amr', 'acr', 'auth_time'], email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'groups'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['test-only-cookie-key-0123456789'] },
  ttl: { Session: 3600, Interaction: 600, IdToken: Number(process.env.ID_TOKEN_TTL || 3600) },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account || account.disabled) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, groups: account.groups };
      },
    };
  },
});

const page = (body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Council sign-in (test provider)</title></head><body>${body}</body></html>`;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page(`<h1>Sign in to the council</h1>
<form method="post" action="/interaction/${uid}/login">
<label for="login">Council account</label><input id="login" name="login" autofocus>
<button type="submit" id="provider-signin">Sign in</button></form>`));
    return;
  }
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    await once(req, 'end');
    const login = new URLSearchParams(body).get('login') || '';
    const account = accounts()[login];
    if (!account || account.disabled) {
      res.statusCode = 403;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(page('<h1 id="provider-refused">This account cannot sign in.</h1>'));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: login, amr: account.amr || ['pwd'], acr: account.acr },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {  // the council's own app: consent is given by policy
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } },
                                       { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.end('unexpected interaction');
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err && err.message));
    });
  } else {
    callback(req, res);
  }
});
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
