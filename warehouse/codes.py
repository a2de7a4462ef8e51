"""Code standards: unified social credit code (GB 32100-2015), organization code (GB 11714),
resident ID (GB 11643), administrative divisions (GB/T 2260).

python-stdnum does the parts it does the same way we would (the GB 32100 and GB 11643 check characters,
the birth-date parse and its GB/T 2260 table of current and historical divisions); the rest is ours, where
the standards ask more than stdnum checks: the registration authority and its institution types (stdnum
allows digits only, so authorities A, N and Y fail there), the embedded organization code's own GB 11714
check (stdnum ignores it), a birth date between 1900 and today, and a division that existed at any time
(stdnum rejects a district created after the birth year, though IDs issued later use the later code).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from zoneinfo import ZoneInfo

from stdnum import numdb
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from warehouse.domain import CITIES, INDUSTRIES, LEGACY_CITY_CODES, PROVINCE_CODE, TIMEZONE

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

# GB 32100-2015 Appendix A (with the later additions of authorities A and N): registration authority
# -> the institution-type codes it may assign. 1 机构编制 (机关, 事业单位, 编办管理的群众团体, 其他);
# 2 外交; 3 司法行政 (律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他); 4 文化;
# 5 民政 (社会团体, 民办非企业单位, 基金会, 其他); 6 旅游; 7 宗教; 8 工会; 9 工商/市场监管 (企业,
# 个体工商户, 农民专业合作社); A 中央军委改革和编制办公室; N 农业农村 (组级, 村级, 乡镇级集体经济
# 组织, 其他); Y 其他 (1 only).
USCC_AUTHORITY_TYPES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),
    "2": frozenset("19"),
    "3": frozenset("123459"),
    "4": frozenset("19"),
    "5": frozenset("1239"),
    "6": frozenset("129"),
    "7": frozenset("129"),
    "8": frozenset("19"),
    "9": frozenset("123"),
    "A": frozenset("19"),
    "N": frozenset("1239"),
    "Y": frozenset("1"),
}
# Registration at a national authority carries 100000 in positions 3-8 (GB 32100 §4.3), not a GB/T 2260 entry.
NATIONAL_DIVISION = "100000"
ID_BIRTH_YEAR_MIN = 1900
_LOCAL = ZoneInfo(TIMEZONE)  # "today" is the local (China Standard Time) date
_YEARS = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character: 31 - (sum of code*3^i mod 31) mod 31, mapped through the charset
    (python-stdnum's calc_check_digit, the same computation)."""
    return stdnum_uscc.calc_check_digit(first17)


def org_code_check_char(first8: str) -> str:
    """GB 11714 check: 11 - (weighted sum mod 11); 10 -> X, 11 -> 0."""
    total = sum(_ORG_VALUE[c] * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


@cache
def division_periods(code: str) -> tuple[tuple[int | None, int | None, str], ...]:
    """(first year, last year, name) of every district that ever carried this GB/T 2260 code, from
    python-stdnum's table (current and historical codes since the 1980s); () when it never existed."""
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return ()
    parts = numdb.get("cn/loc").info(code)
    county = parts[1][1].get("county") if len(parts) == 2 else None
    if not county:
        return ()
    out = []
    for entry in county.split(","):
        m = _YEARS.match(entry)
        if m:
            out.append((int(m[1]) if m[1] else None, int(m[2]) if m[2] else None, m[3]))
        else:
            out.append((None, None, entry))
    return tuple(out)


def is_division(code: str | None) -> bool:
    """A GB/T 2260 six-digit code that exists now or existed at any time. Deliberately not tied to a year:
    records keep the code current when they were made (an ID issued in 1985 for someone born in 1978 uses
    the 1985 code; Laiwu 3712xx stays on pre-2019 registrations)."""
    return code is not None and bool(division_periods(code))


def current_districts(city: str) -> list[str]:
    """Six-digit codes of the districts/counties of a prefecture (4 digits) that still exist."""
    return [
        code
        for code in (f"{city}{n:02d}" for n in range(2, 100))
        if any(end is None for _, end, _ in division_periods(code))
    ]


def uscc_problem(code: str | None, *, province: str | None = None) -> str | None:
    """Why a USCC is invalid (a reason code, in the order the parts are read), or None when it is valid.
    `province` asks positions 3-8 to be a division of that province (GB/T 2260 prefix, e.g. 37)."""
    if code is None or len(code) != 18:
        return "uscc_length"
    if any(c not in _USCC_VALUE for c in code):
        return "uscc_charset"
    if code[0] not in USCC_AUTHORITY_TYPES:
        return "uscc_authority"
    if code[1] not in USCC_AUTHORITY_TYPES[code[0]]:
        return "uscc_institution_type"
    division = code[2:8]
    if province is not None:
        if not (division.startswith(province) and is_division(division)):
            return "uscc_division"
    elif division != NATIONAL_DIVISION and not is_division(division):
        return "uscc_division"
    org = code[8:17]
    if org_code_check_char(org[:8]) != org[8]:
        return "uscc_org_code_check"
    if uscc_check_char(code[:17]) != code[17]:
        return "uscc_check_char"
    return None


def is_valid_uscc(code: str | None) -> bool:
    return uscc_problem(code) is None


def make_uscc(division: str, org_base: str, registration: str = "9", kind: str = "1") -> str:
    """Build a valid USCC from a 6-digit division and an 8-character organization base."""
    org = org_base + org_code_check_char(org_base)
    first17 = registration + kind + division + org
    return first17 + uscc_check_char(first17)


def id_check_char(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2, python-stdnum's calc_check_digit)."""
    return stdnum_ric.calc_check_digit(first17 + "0")


def resident_id_problem(code: str | None, *, today: dt.date | None = None) -> str | None:
    """Why a GB 11643 resident ID is invalid, or None. id_format: 18 characters, 17 digits (division,
    birth date, three sequence digits) and a digit or X; id_region: a division current or historical;
    id_birth_date: a real date in 1900..today; id_check_char: the MOD 11-2 check character."""
    if code is None or len(code) != 18 or not (code[:17].isascii() and code[:17].isdigit()):
        return "id_format"
    if code[17] not in "0123456789Xx":
        return "id_format"
    if not is_division(code[:6]):
        return "id_region"
    try:
        born = stdnum_ric.get_birth_date(code)
    except ValueError:  # stdnum's InvalidComponent is a ValueError
        return "id_birth_date"
    if not dt.date(ID_BIRTH_YEAR_MIN, 1, 1) <= born <= (today or dt.datetime.now(_LOCAL).date()):
        return "id_birth_date"
    if id_check_char(code[:17]) != code[17].upper():
        return "id_check_char"
    return None


def is_valid_resident_id(code: str | None) -> bool:
    return resident_id_problem(code) is None


def city_of_division(division: str | None) -> str | None:
    """Prefecture code (4 digits) of a Shandong division, mapping Laiwu 3712 to Jinan 3701."""
    if not division or len(division) < 4 or not division[:4].isdigit():
        return None
    city = LEGACY_CITY_CODES.get(division[:4], division[:4])
    return city if city.startswith(PROVINCE_CODE) and city in CITIES else None


def shandong_city(division: str | None) -> str | None:
    """The prefecture of a real Shandong division (GB/T 2260, current or historical; Laiwu 3712xx -> 3701)."""
    return city_of_division(division) if division is not None and is_division(division) else None


def is_industry_division(code: str | None) -> bool:
    return code is not None and code[:2] in INDUSTRIES
