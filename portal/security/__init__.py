"""The portal's security primitives, each small and built on a well-kept library: Argon2id
passwords (argon2-cffi), TOTP (pyotp), passkeys (py_webauthn), server-side sessions, CSRF
tokens and response headers. Who may reach what is decided in ``portal.access`` alone."""
