"""External authentication providers (GitHub, OpenID Connect, SAML) and the SSO safeguard."""
