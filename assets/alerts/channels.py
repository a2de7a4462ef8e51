"""Alert channels: a group-robot webhook (DingTalk / WeCom markdown JSON) and e-mail over SMTP.

Errors name the channel and what went wrong, never the URL (its query holds the robot's access token),
the signing secret or the SMTP password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import ssl
import time
import urllib.parse
from email.message import EmailMessage

import httpx

from warehouse.settings import AlertSettings


class DeliveryError(RuntimeError):
    """A channel did not accept a message; the text is safe to record."""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def signed_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot URL with `timestamp` and `sign` query parameters when a secret is set."""
    if not secret:
        return url
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


def webhook_payload(title: str, text: str) -> dict:
    """Group-robot markdown: DingTalk reads markdown.title/text, WeCom markdown.content."""
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text, "content": text}}


def send_webhook(settings: AlertSettings, title: str, text: str) -> None:
    assert settings.webhook_url
    url = signed_url(settings.webhook_url, settings.webhook_secret, int(time.time() * 1000))
    try:
        response = httpx.post(url, json=webhook_payload(title, text), timeout=settings.timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise DeliveryError(f"webhook: HTTP {response.status_code}")
    try:
        errcode = response.json().get("errcode", 0)
    except ValueError:
        errcode = 0  # a receiver that answers 200 without JSON accepted the message
    if errcode:
        raise DeliveryError(f"webhook: errcode {errcode}")


def send_email(settings: AlertSettings, title: str, text: str) -> None:
    assert settings.smtp_host and settings.smtp_to
    msg = EmailMessage()
    msg["Subject"] = title
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(settings.smtp_to)
    msg.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        code = getattr(exc, "smtp_code", None)
        raise DeliveryError(f"email: {type(exc).__name__}" + (f" {code}" if code else "")) from None


SENDERS = {"webhook": send_webhook, "email": send_email}
