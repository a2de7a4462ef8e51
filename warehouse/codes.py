"""Code standards: unified social credit code (GB 32100-2015), organization code (GB 11714),
resident ID (GB 11643), administrative divisions (GB/T 2260)."""

from __future__ import annotations

from warehouse.domain import CITIES, INDUSTRIES, LEGACY_CITY_CODES, PROVINCE_CODE

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character: 31 - (sum of code*3^i mod 31) mod 31, mapped through the charset."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """GB 11714 check: 11 - (weighted sum mod 11); 10 -> X, 11 -> 0."""
    total = sum(_ORG_VALUE[c] * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_problem(code: str | None) -> str | None:
    """Why a USCC is invalid (a reason code), or None when it is valid."""
    if code is None or len(code) != 18:
        return "uscc_length"
    if any(c not in _USCC_VALUE for c in code):
        return "uscc_charset"
    org = code[8:17]
    if any(c not in _ORG_VALUE for c in org) or org_code_check_char(org[:8]) != org[8]:
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
    """GB 11643 resident ID check character."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_valid_resident_id(code: str | None) -> bool:
    return (
        code is not None
        and len(code) == 18
        and code[:17].isdigit()
        and id_check_char(code[:17]) == code[17].upper()
    )


def city_of_division(division: str | None) -> str | None:
    """Prefecture code (4 digits) of a Shandong division, mapping Laiwu 3712 to Jinan 3701."""
    if not division or len(division) < 4 or not division[:4].isdigit():
        return None
    city = LEGACY_CITY_CODES.get(division[:4], division[:4])
    return city if city.startswith(PROVINCE_CODE) and city in CITIES else None


def is_industry_division(code: str | None) -> bool:
    return code is not None and code[:2] in INDUSTRIES
