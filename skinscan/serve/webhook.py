"""Optional webhook: a JSON notice POSTed when a visit's assessment finishes or fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier", "sign"]

log = logging.getLogger("skinscan.serve.webhook")

SIGNATURE_HEADER = "X-Skinscan-Signature"


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of :data:`SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """Delivers notices to one URL; a failed delivery is logged, never raised.

    Parameters
    ----------
    url : str
        Receiver of the POSTs.
    secret : str, optional
        Signs each body (HMAC-SHA256) so the receiver can check it came from this service.
    timeout_s : float
        Timeout of one delivery (connect, read and write each).
    """

    def __init__(self, url: str, *, secret: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s

    async def notify(self, payload: dict[str, Any]) -> bool:
        """POST ``payload`` as JSON; returns whether the receiver answered 2xx."""
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook delivery to %s failed: %s", self.url, exc)
            return False
        if not response.is_success:
            log.warning("webhook %s answered %s", self.url, response.status_code)
            return False
        return True
