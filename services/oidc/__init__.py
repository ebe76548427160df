"""Tsudoi as an OpenID Connect provider (Authlib's authorization server, joserfc keys)."""
