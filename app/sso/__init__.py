"""Single sign-on (docs/sso.md): OIDC and SAML 2.0 connections, the login flow, enforcement."""
