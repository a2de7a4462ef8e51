import pytest

from warehouse.codes import (
    USCC_CHARSET,
    city_of_division,
    id_check_char,
    is_valid_resident_id,
    is_valid_uscc,
    make_uscc,
    uscc_problem,
)

VALID = "914403001922038216"  # DOMAIN.md test vector


def test_uscc_test_vector_is_valid():
    assert is_valid_uscc(VALID)


@pytest.mark.parametrize("pos", range(18))
def test_uscc_any_single_character_change_is_invalid(pos):
    for c in USCC_CHARSET:
        if c != VALID[pos]:
            assert not is_valid_uscc(VALID[:pos] + c + VALID[pos + 1 :])


def test_uscc_reasons():
    assert uscc_problem("123") == "uscc_length"
    assert uscc_problem("91440300192203821I") == "uscc_charset"
    assert uscc_problem(VALID[:17] + "0") == "uscc_check_char"


def test_made_uscc_is_valid_and_embeds_division():
    code = make_uscc("370102", "MA3C1234")
    assert is_valid_uscc(code) and code[2:8] == "370102"


def test_resident_id_check():
    first17 = "11010519491231002"
    assert is_valid_resident_id(first17 + id_check_char(first17))
    assert not is_valid_resident_id(first17 + ("0" if id_check_char(first17) != "0" else "1"))


def test_laiwu_maps_to_jinan_and_outside_province_is_none():
    assert city_of_division("371202") == "3701"
    assert city_of_division("370202") == "3702"
    assert city_of_division("440300") is None
