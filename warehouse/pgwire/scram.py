"""SCRAM-SHA-256 login (RFC 5802/7677 through `scramp`) against the users file's salted verifiers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


class ScramExchange:
    """The server side of SCRAM-SHA-256 without channel binding, as PostgreSQL runs it.

    Written out (RFC 5802 section 3) because PostgreSQL clients send an empty user name inside SCRAM (the
    user is in the startup packet) and scramp's server refuses that; scramp still makes the verifiers.
    """

    def __init__(self, salt: bytes, stored_key: bytes, server_key: bytes, iterations: int) -> None:
        self.salt, self.stored_key, self.server_key, self.iterations = (
            salt,
            stored_key,
            server_key,
            iterations,
        )

    def server_first(self, client_first: str) -> str:
        gs2, _, bare = client_first.partition(",")
        if gs2 not in ("n", "y"):  # "p=..." asks for channel binding, which we do not offer
            raise ValueError("channel binding not supported")
        authzid, _, bare = bare.partition(",")
        attrs = dict(a.split("=", 1) for a in bare.split(",") if "=" in a)
        if "r" not in attrs:
            raise ValueError("no client nonce")
        self.gs2_header = f"{gs2},{authzid},"
        self.client_first_bare = bare
        self.nonce = attrs["r"] + base64.b64encode(secrets.token_bytes(18)).decode()
        self.first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
        return self.first

    def server_final(self, client_final: str) -> str | None:
        """The server's signature when the client's proof matches the verifier, else None."""
        without_proof, _, proof_b64 = client_final.rpartition(",p=")
        attrs = dict(a.split("=", 1) for a in without_proof.split(",") if "=" in a)
        if attrs.get("r") != self.nonce or base64.b64decode(attrs.get("c", "")) != self.gs2_header.encode():
            return None
        auth_message = f"{self.client_first_bare},{self.first},{without_proof}".encode()
        proof = base64.b64decode(proof_b64)
        signature = hmac.new(self.stored_key, auth_message, hashlib.sha256).digest()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if len(proof) != len(signature) or not hmac.compare_digest(
            hashlib.sha256(client_key).digest(), self.stored_key
        ):
            return None
        server_signature = hmac.new(self.server_key, auth_message, hashlib.sha256).digest()
        return "v=" + base64.b64encode(server_signature).decode()
