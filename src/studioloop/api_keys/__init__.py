"""A studio's API keys: server-to-server access to the API under the studio's row-level
security, each key limited to its scopes."""
