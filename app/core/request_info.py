"""Who is calling: the client address behind the configured number of proxies."""

from flask import request


def client_address() -> str:
    """The real client address. ProxyFix (TRUSTED_PROXY_COUNT) has already rewritten
    remote_addr when the API runs behind trusted proxies."""
    return request.remote_addr or "unknown"
