"""Council officers signing in through the council's own OpenID Connect provider (Microsoft
Entra ID or any other), with Authlib: the provider's MFA, its group for the council role, and
its leaver process, instead of a local password and second factor."""
