"""The wire between province and center: signing, verification, keys and rotation, and the ledger's plan."""

import datetime as dt
import os
import stat

import httpx
import polars as pl
import pytest

from assets.sync import ledger
from assets.sync.signing import H_BODY, H_IDEMPOTENCY, H_KEY, H_NODE, H_NONCE, H_SIG, H_TS, sign_request
from national_node.auth import UNAUTHENTICATED, authenticate
from national_node.errors import Rejected
from national_node.keys import KeyRing, parse_keys
from national_node.wire import canonical, signature
from tests.unit.helpers import typed
from warehouse.registry import SYNC_LEDGER
from warehouse.settings import demo_key, sync_key

NOW = 1_790_000_000
SECRET = "s3cret-for-tests"
VECTOR = {  # shared test vector of wire protocol v1 (checked independently with `openssl dgst -hmac`)
    "body": b'{"x":1}',
    "headers": {
        H_NODE: "37",
        H_KEY: "default",
        H_TS: "1790000000",
        H_NONCE: "0123456789abcdef0123456789abcdef",
        H_BODY: "5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22",
        H_SIG: "cbd2620b71487cb82439c5ea1c2521f16e9674353444c64f7c34528815b5b0cc",
        H_IDEMPOTENCY: "37-2026-10-05-v1",
    },
}
RING = KeyRing(parse_keys(f"37={SECRET}"))


def signed(body: bytes = b'{"x":1}', **kw) -> dict:
    """Headers of province 37's POST of `body` with its default key at NOW (the test vector's request);
    `kw` changes any argument of sign_request (another secret, idempotency key, time...)."""
    args = {
        "method": "POST",
        "path": "/v1/batches",
        "body": body,
        "node": "37",
        "key_id": "default",
        "secret": SECRET,
        "idempotency_key": "37-2026-10-05-v1",
        "now": NOW,
    } | kw
    return sign_request(**args)


def signed_get(url: str, path: str, *, node: str, secret: str, nonce: str | None = None) -> httpx.Response:
    """A GET of `url` + `path` signed now by `node` with `secret`: a read, no body, no idempotency key
    (the header is left out, as the province's client leaves it out)."""
    headers = signed(
        b"", method="GET", path=path, node=node, secret=secret, idempotency_key="", now=None, nonce=nonce
    )
    return httpx.get(url + path, headers={k: v for k, v in headers.items() if v})


def test_province_and_node_compute_the_shared_test_vector():
    h = VECTOR["headers"]
    assert signed(nonce=h[H_NONCE]) == h
    message = canonical(
        "POST", "/v1/batches", "37", "default", h[H_TS], h[H_NONCE], h[H_IDEMPOTENCY], h[H_BODY]
    )
    assert signature(SECRET, message) == h[H_SIG]


def test_node_accepts_a_request_the_province_signed():
    caller = authenticate(signed(), "POST", "/v1/batches", b'{"x":1}', RING, NOW + 10)
    assert (caller.node, caller.key_id, caller.idempotency_key) == ("37", "default", "37-2026-10-05-v1")


def test_every_altered_byte_of_a_signed_request_is_rejected():
    body = b'{"manifest":{"period":"2026-10-05"},"payload":"QUJD"}'
    headers = signed(body)
    for name, value in headers.items():
        for i in range(len(value)):
            swapped = "1" if value[i] != "1" else "2"
            bad = headers | {name: value[:i] + swapped + value[i + 1 :]}
            with pytest.raises(Rejected) as exc:
                authenticate(bad, "POST", "/v1/batches", body, RING, NOW)
            assert 400 <= exc.value.status < 500, (name, i)
    for i in range(len(body)):
        bad_body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        with pytest.raises(Rejected) as exc:
            authenticate(headers, "POST", "/v1/batches", bad_body, RING, NOW)
        assert exc.value.code == "body_hash_mismatch"
    for method, path in (("PUT", "/v1/batches"), ("POST", "/v1/batchez")):
        with pytest.raises(Rejected, match="signature"):
            authenticate(headers, method, path, body, RING, NOW)


@pytest.mark.parametrize(
    "offset, ok", [(-300, True), (300, True), (-301, False), (301, False), (-3600, False)]
)
def test_timestamps_outside_five_minutes_are_refused(offset, ok):
    if ok:
        authenticate(signed(), "POST", "/v1/batches", b'{"x":1}', RING, NOW - offset)
    else:
        with pytest.raises(Rejected) as exc:
            authenticate(signed(), "POST", "/v1/batches", b'{"x":1}', RING, NOW - offset)
        assert (exc.value.status, exc.value.code) == (401, "clock_skew")


@pytest.mark.parametrize(
    "node, key_id, secret",
    [
        ("99", "default", SECRET),  # not a province code
        ("44", "default", SECRET),  # a province, not registered here
        ("37", "stolen", SECRET),  # an unknown key id
        ("37", "default", "guessed-secret-0000"),  # a wrong secret
    ],
)
def test_unknown_nodes_keys_and_signatures_get_one_identical_refusal(node, key_id, secret):
    with pytest.raises(Rejected) as exc:
        authenticate(
            signed(node=node, key_id=key_id, secret=secret), "POST", "/v1/batches", b'{"x":1}', RING, NOW
        )
    assert (exc.value.status, exc.value.body()) == (
        401,
        {"error": "unauthenticated", "detail": UNAUTHENTICATED},
    )


def test_a_missing_header_is_named():
    headers = signed()
    del headers[H_NONCE]
    with pytest.raises(Rejected, match="X-Nonce"):
        authenticate(headers, "POST", "/v1/batches", b'{"x":1}', RING, NOW)


def test_rotation_accepts_the_old_key_only_during_its_grace_period():
    until = dt.datetime.fromtimestamp(NOW + 3600, dt.UTC).isoformat()
    ring = KeyRing(parse_keys(f"37:k2=new-secret, 37:k1=old-secret@{until}"))
    for key_id, secret in (("k2", "new-secret"), ("k1", "old-secret")):
        authenticate(signed(key_id=key_id, secret=secret), "POST", "/v1/batches", b'{"x":1}', ring, NOW)
    later = NOW + 3601
    old = signed(key_id="k1", secret="old-secret", now=later)
    with pytest.raises(Rejected) as exc:
        authenticate(old, "POST", "/v1/batches", b'{"x":1}', ring, later)
    assert exc.value.code == "key_expired"
    authenticate(
        signed(key_id="k2", secret="new-secret", now=later), "POST", "/v1/batches", b'{"x":1}', ring, later
    )
    with pytest.raises(Rejected, match="signature"):  # the old secret under the new id
        authenticate(signed(key_id="k2", secret="old-secret"), "POST", "/v1/batches", b'{"x":1}', ring, NOW)


def test_key_specs_parse_without_echoing_secrets():
    keys = parse_keys("37=abc@def, 37:old=xyz@2026-12-01T00:00:00Z,11:k=q")
    assert keys[("37", "default")].secret == "abc@def"  # '@' not followed by an instant is the secret's
    assert keys[("37", "old")].not_after == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert "xyz" not in repr(keys)
    with pytest.raises(ValueError) as exc:
        parse_keys("37:nokey")
    assert "entry 1" in str(exc.value)


def test_demo_key_is_private_stable_and_ignored_by_git(tmp_path):
    key = demo_key(tmp_path)
    path = tmp_path / "secrets" / "national_sync.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert (path.parent / ".gitignore").read_text() == "*\n"
    assert demo_key(tmp_path) == key and key.secret not in repr(key)
    assert sync_key(tmp_path, {"LAKEHOUSE_SYNC_KEY": "from-env"}).secret == "from-env"
    assert sync_key(tmp_path, {"LAKEHOUSE_SYNC_KEY": "e", "LAKEHOUSE_SYNC_KEY_ID": "k9"}).key_id == "k9"


# ---- the ledger decides what goes out --------------------------------------------------------------
def rows(*specs: tuple) -> pl.DataFrame:
    """(version, status, payload hash, attempts) rows of one period."""
    columns = ("batch_id", "period", "version", "status", "payload_sha256", "attempts")
    return typed(
        SYNC_LEDGER, columns, [(f"37-2026-10-05-v{v}", "2026-10-05", v, s, h, a) for v, s, h, a in specs]
    )


def test_a_new_day_is_sent_as_version_1():
    p = ledger.plan(rows(), "h1")
    assert (p.action, p.version, p.restatement) == ("send", 1, False)


def test_a_day_acknowledged_with_the_same_figures_is_not_sent_again():
    p = ledger.plan(rows((1, "acknowledged", "h1", 1)), "h1")
    assert (p.action, p.version) == ("unchanged", 1)


def test_a_rebuilt_day_with_other_figures_is_sent_as_the_next_version():
    p = ledger.plan(rows((1, "acknowledged", "h1", 1), (2, "acknowledged", "h2", 1)), "h3")
    assert (p.action, p.version, p.restatement) == ("send", 3, True)


def test_a_pending_batch_is_resent_under_the_same_batch_id_after_a_crash():
    p = ledger.plan(rows((1, "acknowledged", "h1", 1), (2, "pending", "h2", 3)), "h2")
    assert (p.action, p.version, p.recovering, p.prior_attempts) == ("send", 2, True, 3)


def test_an_unacknowledged_batch_whose_figures_changed_is_superseded_by_a_higher_version():
    p = ledger.plan(rows((1, "failed", "h1", 6)), "h2")
    assert (p.action, p.version, p.superseded["batch_id"]) == ("send", 2, "37-2026-10-05-v1")


def test_skipped_days_do_not_consume_versions():
    r = rows((1, "acknowledged", "h1", 1), (2, "skipped", None, 0))
    assert ledger.next_version(r) == 2
    assert ledger.plan(r, "h2").version == 2
    assert ledger.plan(r, "h1").action == "unchanged"
