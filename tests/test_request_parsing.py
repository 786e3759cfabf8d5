"""The webhook's fast paths give exactly what the libraries give: the form (``ivr.request``
against werkzeug) and the signature (``security.expected_signature`` against twilio's
RequestValidator), for any form, duplicate names, escapes and odd bytes included."""

from __future__ import annotations

import io
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import HMAC_SHA256, RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.wrappers import Request

from ivr.request import LineRequest, parse_form
from ivr.security import expected_signature

URL = "https://ligne.example.org/voice/input/accueil?p=accueil&n=1"
TOKEN = "test-auth-token"

names = st.text(st.characters(codec="utf-8"), max_size=12)
values = st.text(st.characters(codec="utf-8"), max_size=40)
pairs = st.lists(st.tuples(names, values), max_size=30)


def environ(body: bytes, **extra: str) -> dict:
    return {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **extra}


def werkzeug_form(body: bytes) -> list[tuple[str, list[str]]]:
    return list(Request(environ(body)).form.lists())


def line_form(body: bytes) -> list[tuple[str, list[str]]]:
    """The form as LineRequest builds it; its ``fields`` checked against it on the way."""
    request = LineRequest(environ(body))
    form = list(request.form.lists())
    assert form == list(MultiDict(parse_form(body)).lists())
    assert request.fields == {name: values[0] for name, values in form}
    assert request.form.to_dict() == request.fields
    return form


@settings(max_examples=300)
@given(pairs)
def test_a_form_parses_as_werkzeug_parses_it(fields):
    body = urlencode(fields).encode()
    assert line_form(body) == werkzeug_form(body)


@settings(max_examples=300)
@given(st.text(st.sampled_from("ab=&%+2F3DE9ü "), max_size=40))
def test_raw_bodies_with_stray_escapes_parse_as_werkzeug_parses_them(raw):
    body = raw.encode()
    assert line_form(body) == werkzeug_form(body)


def test_the_line_request_gives_the_same_form_and_keeps_the_body():
    body = urlencode([("Digits", "1"), ("From", "+15145550123"), ("Digits", "2"),
                      ("msg", "Gather End")]).encode()
    request = LineRequest(environ(body))
    assert request.form == Request(environ(body)).form
    assert request.form.getlist("Digits") == ["1", "2"]
    assert request.get_data() == body
    assert request.form_pairs == [("Digits", "1"), ("From", "+15145550123"), ("Digits", "2"),
                                  ("msg", "Gather End")]


def test_fields_are_read_from_the_form_whatever_parsed_it():
    multipart = LineRequest(environ(b'--x\r\nContent-Disposition: form-data; name="Digits"'
                                    b'\r\n\r\n3\r\n--x--\r\n',
                                    CONTENT_TYPE="multipart/form-data; boundary=x"))
    assert multipart.parsed_fields() == {}  # nothing read yet
    assert multipart.fields == {"Digits": "3"} == multipart.parsed_fields()
    get = LineRequest({**environ(b""), "REQUEST_METHOD": "GET"})
    assert get.parsed_fields() == {} and get.fields == {}


def test_a_body_longer_than_allowed_is_refused_unread():
    body = b"a=" + b"x" * 100
    request = LineRequest(environ(body))
    request.max_content_length = 50  # type: ignore[misc]
    try:
        request.form  # noqa: B018
    except RequestEntityTooLarge:
        pass
    else:
        raise AssertionError("413 expected")


def test_a_body_that_is_not_utf8_is_a_bad_request():
    try:
        LineRequest(environ(b"From=\xff\xfe")).form  # noqa: B018
    except BadRequest:
        pass
    else:
        raise AssertionError("400 expected")


def test_too_many_fields_are_refused():
    try:
        parse_form(b"&".join([b"a=1"] * 2000), max_fields=1000)
    except RequestEntityTooLarge:
        pass
    else:
        raise AssertionError("413 expected")


def test_other_bodies_go_to_werkzeug():
    body = b'{"a": 1}'
    request = LineRequest(environ(body, CONTENT_TYPE="application/json"))
    assert request.form == {}
    assert request.get_json() == {"a": 1}


@settings(max_examples=300)
@given(pairs, st.sampled_from(["HMAC_SHA1", HMAC_SHA256, "hmac_sha1"]))
def test_the_signature_is_twilios(fields, algorithm):
    form = MultiDict(fields)
    expected = RequestValidator(TOKEN).compute_signature(URL, form, algorithm)
    assert expected_signature(TOKEN.encode(), URL, form, algorithm) == expected
    assert expected_signature(TOKEN.encode(), URL, fields, algorithm) == expected


def test_an_unknown_algorithm_signs_nothing():
    assert expected_signature(TOKEN.encode(), URL, [("a", "b")], "HMAC_MD5") == ""
