"""The vectorized byte counts the landing parse uses agree with Python's own `bytes.count` and `in`."""

from __future__ import annotations

import random

import pytest

from assets.telemetry.formats import byte_count, has_bom, pair_count

SAMPLES = [
    b"",
    b"\n",
    b"a",
    b'":',
    b'"":',
    b'::""',
    b'{"a":1,"b":"x\\":y"}\n{"c":2}',
    "温度,℃\r\n1,2\n".encode(),
    b"\xef\xbb\xbfuscc,ts\n",
    b"x\xefy\xbb\xbf",
]


def _random_samples(n: int = 200) -> list[bytes]:
    rng = random.Random(7)
    alphabet = b'":,\n\r\xef\xbb\xbfab '
    return [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60))) for _ in range(n)]


@pytest.mark.parametrize("byte", [b"\n", b",", b'"', b"\xef"])
def test_byte_count_is_bytes_count(byte: bytes) -> None:
    for data in SAMPLES + _random_samples():
        assert byte_count(data, byte) == data.count(byte), data


def test_pair_count_is_bytes_count() -> None:
    for data in SAMPLES + _random_samples():
        assert pair_count(data, b'":') == data.count(b'":'), data


def test_pair_count_refuses_a_pair_that_could_overlap() -> None:
    with pytest.raises(ValueError, match="two different bytes"):
        pair_count(b"aaa", b"aa")


def test_has_bom_is_in() -> None:
    for data in SAMPLES + _random_samples():
        assert has_bom(data) == (b"\xef\xbb\xbf" in data), data
