"""Code standards, one standard example per rule, and the comparison with python-stdnum on 10,000 generated
codes of each kind (a peer, not an oracle: see warehouse/codes.py for where the standards ask more)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from warehouse.codes import (
    USCC_AUTHORITY_TYPES,
    USCC_CHARSET,
    city_of_division,
    current_districts,
    division_periods,
    id_check_char,
    is_division,
    is_valid_resident_id,
    is_valid_uscc,
    make_uscc,
    resident_id_problem,
    shandong_city,
    uscc_check_char,
    uscc_problem,
)
from warehouse.domain import CITIES

VALID = "914403001922038216"  # DOMAIN.md test vector
STDNUM_EXAMPLE = "91110000600037341L"  # python-stdnum's documented example (Beijing)
GB11643_EXAMPLE = "11010519491231002X"  # the example of GB 11643-1999
TODAY = dt.date(2026, 11, 29)


def _with_check(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def _id(first17: str) -> str:
    return first17 + id_check_char(first17)


# ---- USCC (GB 32100) ---------------------------------------------------------------------------------
def test_uscc_test_vector_is_valid():
    assert is_valid_uscc(VALID) and is_valid_uscc(STDNUM_EXAMPLE)


@pytest.mark.parametrize("pos", range(18))
def test_uscc_any_single_character_change_is_invalid(pos):
    for c in USCC_CHARSET:
        if c != VALID[pos]:
            assert not is_valid_uscc(VALID[:pos] + c + VALID[pos + 1 :])


def test_uscc_length_and_charset():
    assert uscc_problem("123") == "uscc_length"
    assert uscc_problem(None) == "uscc_length"
    assert uscc_problem("91440300192203821I") == "uscc_charset"


def test_uscc_registration_authority_must_be_one_of_gb32100():
    assert uscc_problem("GJTTR0TMJRWNMYNL72") == "uscc_authority"  # the example
    assert uscc_problem(_with_check("0" + VALID[1:17])) == "uscc_authority"
    assert uscc_problem(_with_check("B" + VALID[1:17])) == "uscc_authority"
    assert set(USCC_AUTHORITY_TYPES) == set("123456789ANY")


@pytest.mark.parametrize("authority,kind", [("A", "1"), ("N", "2"), ("Y", "1"), ("5", "3"), ("1", "9")])
def test_authorities_a_n_y_and_their_types_are_valid(authority, kind):
    code = make_uscc("370102", "MA3C1234", registration=authority, kind=kind)
    assert uscc_problem(code) is None
    if authority in "ANY":
        assert not stdnum_uscc.is_valid(code)  # stdnum allows digits only in positions 1-8


@pytest.mark.parametrize("authority,kind", [("9", "5"), ("9", "9"), ("Y", "2"), ("5", "4"), ("2", "2")])
def test_institution_type_must_be_allowed_for_its_authority(authority, kind):
    code = make_uscc("370102", "MA3C1234", registration=authority, kind=kind)
    assert uscc_problem(code) == "uscc_institution_type"


def test_division_in_positions_3_to_8_is_a_gbt2260_code_current_or_historical():
    assert uscc_problem(make_uscc("379999", "MA3C1234")) == "uscc_division"  # never a division
    assert uscc_problem(_with_check("91" + "3701AB" + VALID[8:17])) == "uscc_division"
    assert uscc_problem(make_uscc("371202", "MA3C1234")) is None  # Laiwu 莱城区, 1992-2018
    assert uscc_problem(make_uscc("100000", "MA3C1234")) is None  # a national registration authority
    assert uscc_problem(make_uscc("110105", "MA3C1234")) is None  # Beijing Chaoyang, outside Shandong


def test_division_must_be_shandong_where_the_rule_asks_and_laiwu_still_counts():
    assert uscc_problem(make_uscc("110105", "MA3C1234"), province="37") == "uscc_division"
    assert uscc_problem(make_uscc("100000", "MA3C1234"), province="37") == "uscc_division"
    assert uscc_problem(make_uscc("371202", "MA3C1234"), province="37") is None
    assert city_of_division("371202") == "3701"


def test_embedded_organization_code_check_gb11714():
    # GB 11714 example: D2143569 has the check character X.
    assert make_uscc("370102", "D2143569")[16] == "X"
    bad = _with_check(VALID[:16] + ("1" if VALID[16] != "1" else "2"))
    assert uscc_problem(bad) == "uscc_org_code_check"
    assert stdnum_uscc.is_valid(bad)  # stdnum does not look at the organization code's own check


def test_final_check_character():
    assert uscc_problem(VALID[:17] + "0") == "uscc_check_char"


def test_made_uscc_is_valid_and_embeds_division():
    code = make_uscc("370102", "MA3C1234")
    assert is_valid_uscc(code) and code[2:8] == "370102"


# ---- divisions (GB/T 2260) ---------------------------------------------------------------------------
def test_divisions_current_and_historical_are_known_and_never_by_year():
    assert is_division("370102") and is_division("371202") and is_division("370120")  # 370120: until 1983
    assert not is_division("379999") and not is_division("3701") and not is_division("37010X")


def test_every_city_has_current_districts_inside_it():
    for city in CITIES:
        districts = current_districts(city)
        assert districts and all(d[:4] == city and is_division(d) for d in districts)


def test_laiwu_maps_to_jinan_and_outside_province_is_none():
    assert city_of_division("371202") == "3701"
    assert city_of_division("370202") == "3702"
    assert city_of_division("440300") is None
    assert shandong_city("371202") == "3701" and shandong_city("370199") is None


# ---- resident ID (GB 11643) --------------------------------------------------------------------------
def test_resident_id_standard_example_is_valid():
    assert is_valid_resident_id(GB11643_EXAMPLE) and is_valid_resident_id(GB11643_EXAMPLE.lower())


def test_resident_id_check_character():
    first17 = GB11643_EXAMPLE[:17]
    assert resident_id_problem(first17 + "1", today=TODAY) == "id_check_char"
    assert not is_valid_resident_id(first17 + ("0" if id_check_char(first17) != "0" else "1"))


@pytest.mark.parametrize(
    "code", ["11010519491231002", "1101051949123100X2", "110105194912310A2X", "11010519491231002Y", ""]
)
def test_resident_id_format_is_17_digits_with_three_sequence_digits_and_a_check(code):
    assert resident_id_problem(code, today=TODAY) == "id_format"


@pytest.mark.parametrize(
    "birth",
    ["23331367", "19780230", "19781301", "18991231", "20261130", "00000000"],
)
def test_resident_id_birth_date_is_real_between_1900_and_today(birth):
    assert resident_id_problem(_id(f"370102{birth}123"), today=TODAY) == "id_birth_date"


def test_resident_id_birth_date_bounds_are_inclusive():
    assert resident_id_problem(_id("37010219000101123"), today=TODAY) is None
    assert resident_id_problem(_id("37010220261129123"), today=TODAY) is None


def test_resident_id_region_is_a_division_never_rejected_for_the_birth_year():
    assert resident_id_problem(_id("37999919780101123"), today=TODAY) == "id_region"
    born_1978 = _id("37010219780101123")  # 历下区 exists since 1983; IDs issued after carry it
    assert resident_id_problem(born_1978, today=TODAY) is None
    assert not stdnum_ric.is_valid(born_1978)  # stdnum ties the district to the birth year
    assert resident_id_problem(_id("37120219600101123"), today=TODAY) is None  # Laiwu, merged 2019


# ---- comparison with python-stdnum -------------------------------------------------------------------
N_GENERATED = 10_000
_DIVISIONS = [d for c in CITIES for d in current_districts(c)] + [
    "371202",
    "371203",
    "370120",
    "110105",
    "440300",
    "310115",
    "100000",
]


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _random_chars(rng: np.random.Generator, n: int, alphabet: str) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))


def generated_usccs(n: int = N_GENERATED, seed: int = 22) -> list[str]:
    """Codes from near-valid to random: authority, type, division, organization check and final check each
    right most of the time and wrong some of the time, plus single-character typos and random strings."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.15:  # random strings, some with letters outside the set and wrong lengths
            out.append(_random_chars(rng, int(rng.integers(16, 20)), USCC_CHARSET + "IOSVZ"))
            continue
        authority = _pick(rng, "9" * 6 + "15NAY") if rng.random() < 0.8 else _pick(rng, USCC_CHARSET)
        kind = _pick(rng, "123") if rng.random() < 0.75 else _pick(rng, USCC_CHARSET)
        v = rng.random()
        division = (
            _pick(rng, _DIVISIONS)
            if v < 0.7
            else f"{int(rng.integers(0, 10**6)):06d}"
            if v < 0.9
            else _random_chars(rng, 6, USCC_CHARSET)
        )
        base = _random_chars(rng, 8, USCC_CHARSET)
        code = make_uscc(division, base, registration=authority, kind=kind)
        if rng.random() < 0.1:  # wrong organization-code check, final check kept right
            code = _with_check(code[:16] + _pick(rng, "0123456789X"))
        if u < 0.3:  # a typo anywhere
            pos = int(rng.integers(18))
            code = code[:pos] + _pick(rng, USCC_CHARSET) + code[pos + 1 :]
        elif rng.random() < 0.1:
            code = code[:17] + _pick(rng, USCC_CHARSET)
        out.append(code)
    return out


def generated_resident_ids(n: int = N_GENERATED, seed: int = 11643) -> list[str]:
    """Regions current, historical, unknown; birth dates real, impossible, before 1900 or in the future;
    sequence digits and check characters right or wrong; wrong lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = rng.random()
        region = (
            _pick(rng, _DIVISIONS[:-1])
            if v < 0.75
            else f"{int(rng.integers(0, 10**6)):06d}"
            if v < 0.9
            else "379999"
        )
        if rng.random() < 0.8:
            born = dt.date(1900, 1, 1) + dt.timedelta(days=int(rng.integers(0, 46_000)))
            birth = born.strftime("%Y%m%d")
        else:
            birth = (
                f"{int(rng.integers(1850, 2150))}{int(rng.integers(0, 14)):02d}{int(rng.integers(0, 33)):02d}"
            )
        seq = (
            f"{int(rng.integers(0, 1000)):03d}"
            if rng.random() < 0.97
            else _random_chars(rng, 3, "0123456789AX")
        )
        first17 = region + birth + seq
        w = rng.random()
        if w < 0.05:
            out.append(first17[: int(rng.integers(10, 17))])
            continue
        check = _pick(rng, "0123456789X") if w < 0.2 or not first17.isdigit() else id_check_char(first17)
        out.append(first17 + check)
    return out


_STDNUM_FORM = (stdnum_errors.InvalidLength, stdnum_errors.InvalidFormat, stdnum_errors.InvalidChecksum)


def _stdnum_uscc(code: str) -> str | None:
    try:
        stdnum_uscc.validate(code)
    except _STDNUM_FORM as exc:
        return type(exc).__name__
    return None


def _stdnum_ric(code: str) -> str | None:
    """stdnum's rejection: InvalidLength/Format/Checksum, birth_date, birth_place, or KeyError (it raises
    one for some region codes instead of a validation error)."""
    try:
        stdnum_ric.validate(code)
    except _STDNUM_FORM as exc:
        return type(exc).__name__
    except stdnum_errors.InvalidComponent:
        try:
            stdnum_ric.get_birth_date(code)
        except stdnum_errors.InvalidComponent:
            return "birth_date"
        return "birth_place"
    except KeyError:
        return "KeyError"
    return None


DISAGREEMENTS = {
    "ours_rejects_stdnum_accepts": "ours rejects, stdnum accepts",
    "stdnum_rejects_ours_accepts": "stdnum rejects, ours accepts",
}


def comparison(
    kind: str,
    codes: list[str],
    theirs: Callable[[str], str | None],
    ours: Callable[[str], str | None],
    capsys,
    directory,
) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """(code, stdnum's rejection, ours) of 10,000 codes or more, grouped by how the two disagree; the
    disagreements are printed (and listed in full under `directory`) for whoever runs the test."""
    assert len(codes) >= 10_000
    out: dict[str, list] = {way: [] for way in DISAGREEMENTS}
    for code in codes:
        row = (code, theirs(code), ours(code))
        if row[1] and not row[2]:
            out["stdnum_rejects_ours_accepts"].append(row)
        elif row[2] and not row[1]:
            out["ours_rejects_stdnum_accepts"].append(row)
    with capsys.disabled():
        print("\n" + _listings(kind, out, directory))
    return out


def _listing(title: str, rows: list[tuple[str, str | None, str | None]], path) -> str:
    """Every disagreeing code with both verdicts, written to `path`; a summary with 3 examples per reason back."""
    reasons = Counter(f"{t or 'valid'} / {o or 'valid'}" for _, t, o in rows)
    full = [f"{code}\tstdnum={t or 'valid'}\tours={o or 'valid'}" for code, t, o in rows]
    path.write_text("\n".join(full) + "\n")
    lines = [f"{title}: {len(rows)} (stdnum / ours: {dict(sorted(reasons.items()))}), all in {path}"]
    for reason in sorted(reasons):
        lines += [f"  {r}" for r in full if r.endswith(reason.split(" / ")[1])][:3]
    return "\n".join(lines)


def _listings(kind: str, result: dict[str, list], directory) -> str:
    """Both ways the two validators disagree on `kind`, each listed in full in a file under `directory`."""
    return "\n".join(
        _listing(f"{kind} {title}", result[way], directory / f"{kind.replace(' ', '_')}_{way}.tsv")
        for way, title in DISAGREEMENTS.items()
    )


def test_every_uscc_stdnum_rejects_ours_rejects_too_except_authorities_a_n_y(capsys, tmp_path):
    codes = generated_usccs()
    result = comparison("USCC", codes, _stdnum_uscc, uscc_problem, capsys, tmp_path)
    exceptions = result["stdnum_rejects_ours_accepts"]
    # The only codes stdnum rejects for length, format or check that we accept: authorities A, N, Y.
    assert exceptions and all(code[0] in "ANY" and t == "InvalidFormat" for code, t, _ in exceptions)
    ours_only = result["ours_rejects_stdnum_accepts"]
    assert {o for _, _, o in ours_only} == {
        "uscc_org_code_check",
        "uscc_authority",
        "uscc_institution_type",
        "uscc_division",
    }
    sum_valid = sum(uscc_problem(c) is None for c in codes)
    assert 1_000 < sum_valid < len(codes) - 1_000  # both sides of the line are exercised


def test_every_resident_id_stdnum_rejects_for_form_check_or_birth_date_ours_rejects_too(capsys, tmp_path):
    codes = generated_resident_ids()
    result = comparison("Resident ID", codes, _stdnum_ric, resident_id_problem, capsys, tmp_path)
    missed = [r for r in result["stdnum_rejects_ours_accepts"] if r[1] not in ("birth_place", "KeyError")]
    assert missed == []
    # stdnum's birth-place rejections we accept are districts created after the birth year (or its KeyError).
    for code, theirs, _ in result["stdnum_rejects_ours_accepts"]:
        first = min(start or 0 for start, _, _ in division_periods(code[:6]))
        assert theirs == "KeyError" or int(code[6:10]) < first or _closed_before(code)
    # What we reject and stdnum accepts: birth dates outside 1900..today.
    assert {o for _, _, o in result["ours_rejects_stdnum_accepts"]} == {"id_birth_date"}
    assert any(t == "birth_place" for _, t, _ in result["stdnum_rejects_ours_accepts"])


def _closed_before(code: str) -> bool:
    """stdnum also rejects a birth year after the district was abolished (IDs issued earlier keep it)."""
    return all(end is not None and int(code[6:10]) > end for _, end, _ in division_periods(code[:6]))


def test_an_unknown_district_is_id_region_where_stdnum_raises_key_error():
    code = _id("37999919780101123")
    with pytest.raises(KeyError):
        stdnum_ric.validate(code)
    assert resident_id_problem(code, today=TODAY) == "id_region"
