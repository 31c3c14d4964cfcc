"""A browser signing in at the tests' OpenID Provider (tests/sso/idp/server.mjs, oidc-provider
on Node.js): it follows the IdP's redirects and submits the login and consent forms its
development interactions render, keeping the IdP's cookies. Used by the SSO tests (tests/sso)
and the `sso_login` bench scenario."""

from __future__ import annotations

import re

import httpx

FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"')


async def sign_in_at_idp(url: str, login: str, back_to: str) -> str:
    """Follow the IdP from the authorization URL `url` to its redirect to `back_to` (Drift's
    public URL), signing in as `login`: the URL the IdP sends the browser back to."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as idp:
        r = await idp.get(url)
        for _ in range(20):
            if r.is_redirect:
                location = r.headers["location"]
                if location.startswith(back_to):
                    return location
                r = await idp.get(httpx.URL(str(r.url)).join(location))
                continue
            action = FORM.search(r.text)
            if r.status_code != 200 or action is None:
                raise RuntimeError(f"unexpected IdP page {r.status_code}: {r.text[:500]}")
            target = httpx.URL(str(r.url)).join(action.group(1).replace("&amp;", "&"))
            data = ({"prompt": "login", "login": login, "password": "any"}
                    if 'name="login"' in r.text else {"prompt": "consent"})
            r = await idp.post(target, data=data)
    raise RuntimeError("the IdP did not redirect back")
