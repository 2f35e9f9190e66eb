"""shared.webhook.authenticate: the static secret header, and HMAC signatures over timestamp, query and body.

Expected signatures are computed here from the documented recipe, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared import webhook
from shared.config import Config
from shared.errors import ApiError

SECRET = "hmac-secret-for-tests"
TOKEN = "static-token"
BODY = '{"type":"pushImage","event_data":{"resources":[]}}'
NOW = 1_795_800_000.0
CONFIG = Config({"WEBHOOK_TOKEN": TOKEN, "WEBHOOK_HMAC_SECRET": SECRET})


def sign(message: str, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def check(headers: dict[str, str], query: dict[str, str] | None = None, body: str = BODY, config: Config = CONFIG):
    webhook.authenticate(headers, body, config, query=query or {}, clock=lambda: NOW)


def refused(*args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        check(*args, **kwargs)
    assert (info.value.code, info.value.status) == ("Unauthorized", 401)
    assert SECRET not in info.value.message and TOKEN not in info.value.message
    return info.value


def test_the_static_header_still_authenticates():
    check({"x-webhook-token": TOKEN}, {"registryId": "tcr-anything"})
    refused({"x-webhook-token": "wrong"})
    refused({})


def test_a_signature_over_timestamp_query_and_body_is_accepted():
    stamp = str(int(NOW))
    query = {"registryId": "tcr-abc123"}
    check({"x-timestamp": stamp, "x-signature": sign(f"{stamp}.registryId=tcr-abc123.{BODY}")}, query)


def test_without_a_query_the_middle_part_is_empty():
    stamp = str(int(NOW) - 299)
    check({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}")})


def test_the_query_is_sorted_by_name_and_percent_encoded():
    stamp = str(int(NOW))
    query = {"registryId": "tcr-abc123", "b": "x y/é~", "a": ""}
    canonical = "a=&b=x%20y%2F%C3%A9~&registryId=tcr-abc123"
    check({"x-timestamp": stamp, "x-signature": sign(f"{stamp}.{canonical}.{BODY}")}, query)
    reordered = "registryId=tcr-abc123&b=x%20y%2F%C3%A9~&a="
    refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}.{reordered}.{BODY}")}, query)


def test_a_replay_with_another_registry_id_is_refused():
    stamp = str(int(NOW))
    headers = {"x-timestamp": stamp, "x-signature": sign(f"{stamp}.registryId=tcr-mine.{BODY}")}
    check(headers, {"registryId": "tcr-mine"})
    refused(headers, {"registryId": "tcr-theirs"})
    refused(headers, {})


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**6])
def test_stale_and_future_timestamps_are_refused(offset):
    stamp = str(int(NOW) + offset)
    error = refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}")})
    assert "300" in error.message and "X-Timestamp" in error.message


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_inside_the_window_are_accepted(offset):
    stamp = str(int(NOW) + offset)
    check({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}")})


@pytest.mark.parametrize("stamp", ["", "abc", "1795800000.5", "-1", "1e9", " 1795800000", "9" * 40, "١٧٩٥٨٠٠٠٠٠"])
def test_malformed_timestamps_are_refused(stamp):
    refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}")})


def test_a_body_only_signature_is_refused_and_the_answer_says_what_to_sign():
    error = refused({"x-signature": sign(BODY)})
    assert "X-Timestamp" in error.message and 'timestamp + "." + rawQuery + "." + body' in error.message
    stamp = str(int(NOW))
    refused({"x-timestamp": stamp, "x-signature": sign(BODY)})


def test_a_changed_body_or_a_wrong_key_is_refused():
    stamp = str(int(NOW))
    refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY} ")})
    refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}", secret="other")})


def test_signatures_are_off_without_a_secret():
    stamp = str(int(NOW))
    refused({"x-timestamp": stamp, "x-signature": sign(f"{stamp}..{BODY}")}, config=Config({"WEBHOOK_TOKEN": TOKEN}))


def test_odd_text_in_headers_query_and_body_is_a_401_not_a_crash():
    stamp = str(int(NOW))
    refused({"x-timestamp": stamp, "x-signature": "sha256=\udcff"}, {"registryId": "\udcff"}, body="\udcff")
    refused({"x-timestamp": "\udcff", "x-signature": "x"})


def test_the_canonical_query_matches_the_documented_recipe():
    assert webhook.canonical_query({}) == ""
    assert webhook.canonical_query({"b": "2", "a": "1 2", "c~": "é"}) == "a=1%202&b=2&c~=%C3%A9"
