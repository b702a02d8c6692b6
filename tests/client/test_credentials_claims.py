"""What a verifier reads from a credential: the issuer it names, its validity period, and
whether its numbers survive the IEEE 754 doubles RFC 8785 reads them as (I-JSON)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.credentials import (
    CredentialError,
    ValidityPeriod,
    canonical_json,
    check_ijson,
    digest,
    named_issuer,
    parse_credential,
    validity_period,
)

UNI = "https://uni.example/issuers/1"

# -- issuer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (UNI, UNI),
        ("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
         "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
        ({"id": UNI, "name": "Example University"}, UNI),
        ({"id": "did:web:uni.example"}, "did:web:uni.example"),
        ({"name": "Example University"}, None),  # an object without an id
        ({"id": 7}, None),
        ({"id": {"id": UNI}}, None),  # only one level of object
        (42, None),
        ([UNI], None),
        (None, None),
        (True, None),
    ],
)
def test_named_issuer_forms(issuer: object, expected: str | None) -> None:
    assert named_issuer({"issuer": issuer}) == expected


def test_named_issuer_absent() -> None:
    assert named_issuer({"credentialSubject": {"issuer": UNI}}) is None


def test_named_issuer_from_a_parsed_file() -> None:
    document = parse_credential(json.dumps({"issuer": {"id": UNI, "name": "Uni"}}).encode())
    assert named_issuer(document) == UNI


# -- validity period -------------------------------------------------------------------------

T2020 = 1577836800  # 2020-01-01T00:00:00Z
T2030 = 1893456000  # 2030-01-01T00:00:00Z


def period(**members: object) -> ValidityPeriod:
    return validity_period(members)


def test_vc2_period() -> None:
    assert period(validFrom="2020-01-01T00:00:00Z", validUntil="2030-01-01T00:00:00Z") == (
        ValidityPeriod(T2020, T2030, "validFrom", "validUntil"))


def test_vc11_period() -> None:
    assert period(issuanceDate="2020-01-01T00:00:00Z",
                  expirationDate="2030-01-01T00:00:00Z") == (
        ValidityPeriod(T2020, T2030, "issuanceDate", "expirationDate"))


def test_no_dates_no_bounds() -> None:
    assert period() == ValidityPeriod(None, None)
    assert period(validFrom="2020-01-01T00:00:00Z") == ValidityPeriod(T2020, None, "validFrom")
    assert period(expirationDate="2030-01-01T00:00:00Z") == (
        ValidityPeriod(None, T2030, None, "expirationDate"))


def test_vc2_member_wins_over_vc11() -> None:
    got = period(validFrom="2020-01-01T00:00:00Z", issuanceDate="2019-01-01T00:00:00Z",
                 validUntil="2030-01-01T00:00:00Z", expirationDate="2031-01-01T00:00:00Z")
    assert got == ValidityPeriod(T2020, T2030, "validFrom", "validUntil")
    # each bound separately: a VC 1.1 end still counts beside a VC 2.0 start
    assert period(validFrom="2020-01-01T00:00:00Z", expirationDate="2030-01-01T00:00:00Z") == (
        ValidityPeriod(T2020, T2030, "validFrom", "expirationDate"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2020-01-01T00:00:00Z", T2020),
        ("2020-01-01T01:00:00+01:00", T2020),
        ("2019-12-31T18:30:00-05:30", T2020),
        ("2020-01-01T14:00:00+14:00", T2020),
        ("2019-12-31T10:00:00-14:00", T2020),
        ("2020-01-01T00:00:00+00:00", T2020),
        ("2020-01-01T00:00:00-00:00", T2020),
        ("2020-01-01T00:00:00", T2020),  # no zone: read as UTC
        ("2019-12-31T24:00:00Z", T2020),  # XML Schema's end of the day
        ("2019-12-31T24:00:00.000Z", T2020),
        ("2020-01-01T00:00:00.000Z", T2020),
        ("2024-02-29T00:00:00Z", 1709164800),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
        ("0001-01-01T00:00:00Z", -62135596800),
        ("9999-12-31T23:59:59Z", 253402300799),
    ],
)
def test_date_forms(text: str, seconds: int) -> None:
    assert period(validFrom=text, validUntil=text) == (
        ValidityPeriod(seconds, seconds, "validFrom", "validUntil"))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2020-01-01T00:00:00.5Z", T2020 + 1, T2020),
        ("2020-01-01T00:00:00.000000001Z", T2020 + 1, T2020),
        ("2020-01-01T00:00:00.999999999999Z", T2020 + 1, T2020),
        ("1969-12-31T23:59:59.5Z", 0, -1),  # before 1970 too: the fraction counts forward
        ("2020-01-01T01:00:00.25+01:00", T2020 + 1, T2020),
    ],
)
def test_fractional_seconds_round_inward(text: str, start: int, end: int) -> None:
    """The period never grows: its start rounds up, its end down."""
    assert (period(validFrom=text).valid_from, period(validUntil=text).valid_until) == (
        start, end)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2020-13-01T00:00:00Z", "month must be in 1..12"),
        ("2023-02-29T00:00:00Z", "day is out of range"),
        ("0000-01-01T00:00:00Z", "year 0 is out of range"),
        ("2020-01-01T23:59:60Z", "leap second"),
        ("2020-01-01T25:00:00Z", "out of range"),
        ("2020-01-01T24:00:01Z", "24:00:00"),
        ("2020-01-01T24:00:00.5Z", "24:00:00"),
        ("2020-01-01T00:60:00Z", "out of range"),
        ("2020-01-01T00:00:00+15:00", "offset"),
        ("2020-01-01T00:00:00+14:30", "offset"),
        ("2020-01-01T00:00:00+01:60", "offset"),
        ("2020-01-01", "not an XML Schema date-time"),
        ("2020-01-01 00:00:00Z", "not an XML Schema date-time"),
        ("2020-01-01t00:00:00z", "not an XML Schema date-time"),
        ("2020-01-01T00:00Z", "not an XML Schema date-time"),
        ("2020-01-01T00:00:00.Z", "not an XML Schema date-time"),
        ("2020-01-01T00:00:00+0100", "not an XML Schema date-time"),
        ("2020-01-01T00:00:00Z\n", "not an XML Schema date-time"),
        ("20200-01-01T00:00:00Z", "not an XML Schema date-time"),
        ("-2020-01-01T00:00:00Z", "not an XML Schema date-time"),
        ("\u0662\u0660\u0662\u0660-01-01T00:00:00Z", "not an XML Schema date-time"),
        ("", "not an XML Schema date-time"),
        ("yesterday", "not an XML Schema date-time"),
        (1577836800, "must be a date-time string"),
        (None, "must be a date-time string"),
        ({"@value": "2020-01-01T00:00:00Z"}, "must be a date-time string"),
    ],
)
@pytest.mark.parametrize("member", ["validFrom", "validUntil", "issuanceDate", "expirationDate"])
def test_malformed_dates_name_the_member_and_text(member: str, value: object,
                                                  fragment: str) -> None:
    with pytest.raises(CredentialError, match=fragment) as caught:
        validity_period({member: value})
    message = caught.value.diagnostics()
    assert message.startswith(member + " ")
    if isinstance(value, str):
        assert json.dumps(value) in message


def test_a_long_bad_date_is_shortened_in_the_message() -> None:
    with pytest.raises(CredentialError) as caught:
        validity_period({"validFrom": "9" * 100_000})
    assert len(caught.value.diagnostics()) < 200


def test_an_overridden_vc11_date_must_still_be_well_formed() -> None:
    with pytest.raises(CredentialError, match="issuanceDate"):
        period(validFrom="2020-01-01T00:00:00Z", issuanceDate="2020-01-01")


def test_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(CredentialError, match=r"validUntil .* is before validFrom"):
        period(validFrom="2030-01-01T00:00:00Z", validUntil="2020-01-01T00:00:00Z")
    with pytest.raises(CredentialError, match=r"expirationDate .* is before issuanceDate"):
        period(issuanceDate="2030-01-01T00:00:00Z", expirationDate="2020-01-01T00:00:00Z")
    # the same moment is allowed (VC 2.0: "the same or earlier"); it is never valid
    same = period(validFrom="2020-01-01T00:00:00Z", validUntil="2020-01-01T01:00:00+01:00")
    assert same.status_at(T2020 - 1) == "not_yet_valid"
    assert same.status_at(T2020) == "expired"


def test_status_at_the_edges() -> None:
    bounded = ValidityPeriod(T2020, T2030, "validFrom", "validUntil")
    assert bounded.status_at(T2020 - 1) == "not_yet_valid"
    assert bounded.status_at(T2020) == "valid"
    assert bounded.status_at(T2030 - 1) == "valid"
    assert bounded.status_at(T2030) == "expired"  # validUntil: when it ceases to be valid
    assert ValidityPeriod(None, None).status_at(0) == "valid"
    assert ValidityPeriod(T2020, None).status_at(T2030 * 10) == "valid"
    assert ValidityPeriod(None, T2030).status_at(-T2030) == "valid"


def test_the_w3c_example_that_expired_in_2020() -> None:
    """The issue's example: VC 2.0 with validUntil 2020-01-01, checked in 2026."""
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": UNI,
        "validFrom": "2010-01-01T19:23:24Z",
        "validUntil": "2020-01-01T19:23:24Z",
        "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21"},
    }
    now = int(dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp())
    assert validity_period(credential).status_at(now) == "expired"


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14)),
                                               dt.timezone(dt.timedelta(hours=-14)),
                                               dt.timezone(dt.timedelta(hours=5, minutes=45)),
                                               dt.timezone(dt.timedelta(hours=-3, minutes=-30))])))
def test_dates_agree_with_the_standard_library(moment: dt.datetime) -> None:
    """Against an independent reading: Python's datetime arithmetic on the same moment."""
    text = moment.isoformat()  # "+00:00", never "Z"; microseconds only when nonzero
    since_epoch = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    floor = since_epoch // dt.timedelta(seconds=1)
    ceiling = floor + (1 if moment.microsecond else 0)
    assert period(validFrom=text, validUntil=text) == (
        ValidityPeriod(ceiling, floor, "validFrom", "validUntil"))


# -- I-JSON numbers ----------------------------------------------------------------------------


def with_national_id(number: str) -> bytes:
    return ('{"issuer": "https://uni.example/issuers/1", '
            '"credentialSubject": {"name": "Alice", "nationalId": ' + number + "}}").encode()


@pytest.mark.parametrize("number", ["12345678901234567890", "12345678901234568000"])
def test_the_issues_colliding_numbers_are_refused(number: str) -> None:
    """Both used to canonicalise as 12345678901234567000: one digest for two credentials."""
    expected = (f"number {number} at $.credentialSubject.nationalId cannot be represented "
                "exactly as an IEEE 754 double (I-JSON, RFC 7493 §2.2): it would be read as "
                "12345678901234567000; write it as a string")
    with pytest.raises(CredentialError) as caught:
        digest(with_national_id(number))
    assert caught.value.diagnostics() == expected
    assert caught.value.code == "bad_credential"
    assert caught.value.exit_code == 4
    # as a string, the number is exact and the two credentials differ
    assert digest(with_national_id(f'"{number}"')) != digest(with_national_id('"0"'))


@pytest.mark.parametrize(
    "number",
    [
        "9007199254740993",
        "-9007199254740993",
        "12345678901234567890.0",
        "1.2345678901234567890e19",
        "18446744073709551615",  # 2^64 - 1
        "0.10000000000000001",  # 17 digits that say more than the double holds
        "3.141592653589793238462643383279",  # RFC 7493's own example
        "333333333.33333329",
        "1e-400",  # underflows to 0
        "-1e-400",
        "2.4703282292062328e-324",  # just above half the smallest subnormal
    ],
)
def test_numbers_a_double_cannot_hold_are_refused(number: str) -> None:
    with pytest.raises(CredentialError, match=r"at \$\.n cannot be represented exactly"):
        digest(b'{"n": ' + number.encode() + b"}")


@pytest.mark.parametrize(
    ("number", "canonical"),
    [
        (str(2**53), "9007199254740992"),
        (str(-(2**53)), "-9007199254740992"),
        (str(2**53 - 1), "9007199254740991"),
        ("9007199254740994", "9007199254740994"),  # a double, past 2^53
        ("1e21", "1e+21"),
        ("1000000000000000000000", "1e+21"),
        ("1e23", "1e+23"),
        ("0.1", "0.1"),
        ("3.14", "3.14"),
        ("-0.0", "0"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("12345678901234567000", "12345678901234567000"),  # the double's own digits
        ("0.30000000000000004", "0.30000000000000004"),
    ],
)
def test_numbers_a_double_holds_are_accepted(number: str, canonical: str) -> None:
    raw = b'{"n": ' + number.encode() + b"}"
    assert canonical_json(parse_credential(raw)) == b'{"n":' + canonical.encode() + b"}"
    assert digest(raw) == hashlib.sha256(b'{"n":' + canonical.encode() + b"}").digest()


def test_the_path_names_arrays_and_odd_member_names() -> None:
    raw = b'{"a": [0, 1, 2, {"b": 9007199254740993}]}'
    with pytest.raises(CredentialError, match=r"at \$\.a\[3\]\.b cannot"):
        digest(raw)
    raw = b'{"@context": [{"x y": [[1e-400]]}]}'
    with pytest.raises(CredentialError, match=r'at \$\["@context"\]\[0\]\["x y"\]\[0\]\[0\] '):
        digest(raw)
    with pytest.raises(CredentialError, match=r"at \$\[0\] cannot"):
        check_ijson([9007199254740993])


def test_the_first_offender_in_document_order_is_named() -> None:
    raw = b'{"a": {"x": 1, "y": 9007199254740993}, "b": [9007199254740995], "c": 1e-400}'
    with pytest.raises(CredentialError, match=r"\$\.a\.y"):
        digest(raw)


def test_check_ijson_on_values_built_in_python() -> None:
    check_ijson({"a": 0.1, "b": [True, False, None, "x", 2**53, Decimal("1e21")]})
    for bad in (2**53 + 1, 10**400, Decimal("0.10000000000000001"), float("nan")):
        with pytest.raises(CredentialError, match=r"\$\.v"):
            check_ijson({"v": bad})


def test_a_long_number_is_shortened_in_the_message() -> None:
    with pytest.raises(CredentialError) as caught:
        digest(b'{"n": 1.' + b"1" * 100_000 + b"}")
    assert len(caught.value.diagnostics()) < 300


def test_a_deep_document_is_checked_without_recursion() -> None:
    depth = 900
    check_ijson(json.loads("[" * depth + "1" + "]" * depth))
    with pytest.raises(CredentialError, match=r"\$" + r"\[0\]" * depth + " cannot"):
        check_ijson(json.loads("[" * depth + "9007199254740993" + "]" * depth))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**53), 2**53))
def test_every_integer_up_to_2_53_is_accepted(n: int) -> None:
    raw = with_national_id(str(n))
    check_ijson(parse_credential(raw))
    assert json.loads(canonical_json(parse_credential(raw)))["credentialSubject"][
        "nationalId"] == n


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_written_by_a_json_library_is_accepted(x: float) -> None:
    canonical = canonical_json(parse_credential(json.dumps({"x": x}).encode()))
    assert json.loads(canonical, parse_int=float)["x"] == x  # as a double, as RFC 8785 reads


def _canonical_or_none(text: str) -> bytes | None:
    try:
        return canonical_json(parse_credential(b'{"n": ' + text.encode() + b"}"))
    except CredentialError:
        return None


@settings(max_examples=500, deadline=None)
@given(st.integers(2**53, 2**70), st.integers(1, 2**12), st.booleans())
def test_no_two_accepted_numbers_share_a_canonical_form(n: int, delta: int,
                                                        as_fraction: bool) -> None:
    """The property the attack needs broken: different values, one digest."""
    suffix = ".0" if as_fraction else ""
    a, b = _canonical_or_none(f"{n}{suffix}"), _canonical_or_none(f"{n + delta}{suffix}")
    if a is not None and b is not None:
        assert a != b


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.integers(-(2**53), 2**53) | st.floats(allow_nan=False,
                                                              allow_infinity=False),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=4), children, max_size=3),
                    max_leaves=10))
def test_json_a_library_writes_passes_check_ijson(value: Any) -> None:
    check_ijson(parse_credential(json.dumps({"v": value}).encode()))
