"""shared.config: every variable missing or invalid names itself; rotation is seen; no secret leaks."""

from __future__ import annotations

import pytest

from shared.config import Config, Credentials, Endpoint
from shared.errors import ConfigError

SID = "AKIDTESTTESTTESTTESTTESTTESTTEST1234"
SKEY = "TestSecretKeyValue0123456789abcd"
TOKEN = "SessionTokenValue-zzzzzzzzzzzzzzzzzz"


def full_env() -> dict[str, str]:
    return {
        "TENCENTCLOUD_SECRETID": SID,
        "TENCENTCLOUD_SECRETKEY": SKEY,
        "TENCENTCLOUD_SESSIONTOKEN": TOKEN,
        "TENCENTCLOUD_REGION": "ap-guangzhou",
        "TCR_ENDPOINT": "127.0.0.1:9001",
        "COS_ENDPOINT": "127.0.0.1:9002",
        "LOG_BUCKET": "tcr-replication-log-1250000000",
        "LOG_BUCKET_REGION": "ap-shanghai",
        "API_TOKEN": "api-token-value-123",
        "WEBHOOK_TOKEN": "webhook-token-value-456",
        "WEBHOOK_TOKEN_HEADER": "X-Hook-Secret",
        "WEBHOOK_HMAC_SECRET": "webhook-hmac-value-789",
        "NOTIFY_URL": "https://hooks.example.com/tcr?key=urlsecret",
        "NOTIFY_SECRET": "notify-secret-value-000",
        "REPLICATION_SLA_SECONDS": "600",
        "POLICY": '{"deniedRegions": ["ap-mumbai"]}',
    }


def error_of(env: dict[str, str], attribute: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        value = getattr(Config(env), attribute)
        if isinstance(value, Credentials):
            value.get_credential_info()
    return info.value


def test_full_environment_reads_every_setting() -> None:
    cfg = Config(full_env())
    assert cfg.credentials.get_credential_info() == (SID, SKEY, TOKEN)
    assert cfg.region == "ap-guangzhou"
    assert cfg.tcr_endpoint == Endpoint("127.0.0.1", 9001)
    assert cfg.cos_endpoint is not None and cfg.cos_endpoint.netloc == "127.0.0.1:9002"
    assert cfg.log_bucket == "tcr-replication-log-1250000000"
    assert cfg.log_bucket_region == "ap-shanghai"
    assert cfg.api_auth.mode == "bearer" and cfg.api_auth.token == "api-token-value-123"
    hook = cfg.webhook_auth
    assert (hook.token, hook.header, hook.hmac_secret) == (
        "webhook-token-value-456",
        "X-Hook-Secret",
        "webhook-hmac-value-789",
    )
    notify = cfg.notify
    assert notify is not None and notify.secret == "notify-secret-value-000"
    assert cfg.sla_seconds == 600
    assert cfg.policy == '{"deniedRegions": ["ap-mumbai"]}'


@pytest.mark.parametrize(
    ("variable", "attribute"),
    [
        ("TENCENTCLOUD_SECRETID", "credentials"),
        ("TENCENTCLOUD_SECRETKEY", "credentials"),
        ("TENCENTCLOUD_REGION", "region"),
        ("LOG_BUCKET", "log_bucket"),
        ("API_TOKEN", "api_auth"),
        ("WEBHOOK_TOKEN", "webhook_auth"),
    ],
)
@pytest.mark.parametrize("empty", [False, True])
def test_missing_required_variable_names_it(variable: str, attribute: str, empty: bool) -> None:
    env = full_env()
    if empty:
        env[variable] = "   "
    else:
        del env[variable]
    err = error_of(env, attribute)
    assert err.variable == variable
    assert variable in err.message
    assert err.status == 503


@pytest.mark.parametrize(
    ("variable", "value", "attribute"),
    [
        ("TENCENTCLOUD_REGION", "Guangzhou", "region"),
        ("TCR_ENDPOINT", "127.0.0.1", "tcr_endpoint"),
        ("TCR_ENDPOINT", "127.0.0.1:99999", "tcr_endpoint"),
        ("TCR_ENDPOINT", "https://127.0.0.1:9001", "tcr_endpoint"),
        ("COS_ENDPOINT", "localhost:port", "cos_endpoint"),
        ("LOG_BUCKET", "Bad_Bucket", "log_bucket"),
        ("LOG_BUCKET", "no-appid-suffix", "log_bucket"),
        ("LOG_BUCKET_REGION", "shanghai", "log_bucket_region"),
        ("API_AUTH", "basic", "api_auth"),
        ("WEBHOOK_TOKEN_HEADER", "X Bad Header", "webhook_auth"),
        ("NOTIFY_URL", "ftp://example.com/x", "notify"),
        ("NOTIFY_URL", "not a url", "notify"),
        ("REPLICATION_SLA_SECONDS", "0", "sla_seconds"),
        ("REPLICATION_SLA_SECONDS", "-5", "sla_seconds"),
        ("REPLICATION_SLA_SECONDS", "15m", "sla_seconds"),
        ("REPLICATION_SLA_SECONDS", "1.5", "sla_seconds"),
        ("TENCENTCLOUD_SECRETID", "AKID WITH SPACE", "credentials"),
    ],
)
def test_invalid_value_names_the_variable(variable: str, value: str, attribute: str) -> None:
    env = full_env()
    env[variable] = value
    err = error_of(env, attribute)
    assert err.variable == variable
    assert variable in err.message


def test_notify_url_without_secret_is_an_error_naming_the_secret() -> None:
    env = full_env()
    del env["NOTIFY_SECRET"]
    err = error_of(env, "notify")
    assert err.variable == "NOTIFY_SECRET"


def test_notify_unset_means_disabled_not_error() -> None:
    env = full_env()
    del env["NOTIFY_URL"]
    del env["NOTIFY_SECRET"]
    assert Config(env).notify is None


def test_api_auth_cam_turns_bearer_off_explicitly() -> None:
    env = full_env()
    del env["API_TOKEN"]
    env["API_AUTH"] = "CAM"
    auth = Config(env).api_auth
    assert auth.mode == "cam"
    assert auth.bearer is False


def test_defaults_for_optional_settings() -> None:
    env = full_env()
    for name in ("WEBHOOK_TOKEN_HEADER", "WEBHOOK_HMAC_SECRET", "REPLICATION_SLA_SECONDS", "POLICY"):
        del env[name]
    for name in ("TCR_ENDPOINT", "COS_ENDPOINT", "LOG_BUCKET_REGION", "TENCENTCLOUD_SESSIONTOKEN"):
        del env[name]
    cfg = Config(env)
    assert cfg.webhook_auth.header == "X-Webhook-Token"
    assert cfg.webhook_auth.hmac_secret is None
    assert cfg.sla_seconds == 900
    assert cfg.policy is None
    assert cfg.tcr_endpoint is None and cfg.cos_endpoint is None
    assert cfg.log_bucket_region == "ap-guangzhou"
    assert cfg.credentials.token is None


def test_endpoint_accepts_http_scheme_prefix() -> None:
    env = full_env()
    env["TCR_ENDPOINT"] = "http://localhost:19001/"
    assert Config(env).tcr_endpoint == Endpoint("localhost", 19001)


def test_rotation_is_picked_up_without_a_new_object() -> None:
    env = full_env()
    creds = Config(env).credentials
    assert creds.get_credential_info() == (SID, SKEY, TOKEN)
    env["TENCENTCLOUD_SECRETID"] = "AKIDROTATEDROTATEDROTATED00000000000"
    env["TENCENTCLOUD_SECRETKEY"] = "RotatedSecretKey0000000000000000"
    env["TENCENTCLOUD_SESSIONTOKEN"] = "rotated-token"
    assert creds.secret_id == "AKIDROTATEDROTATEDROTATED00000000000"
    assert creds.secret_key == "RotatedSecretKey0000000000000000"
    assert creds.token == "rotated-token"
    assert creds.get_credential_info()[1] == "RotatedSecretKey0000000000000000"
    # Both SDK spellings see the same values.
    assert creds.secretId == creds.secret_id


def test_credentials_never_default_when_removed_later() -> None:
    env = full_env()
    creds = Credentials(env)
    creds.check()
    del env["TENCENTCLOUD_SECRETKEY"]
    with pytest.raises(ConfigError) as info:
        creds.get_credential_info()
    assert info.value.variable == "TENCENTCLOUD_SECRETKEY"


def test_reads_os_environ_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-beijing")
    cfg = Config()
    assert cfg.region == "ap-beijing"
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-chengdu")
    assert cfg.region == "ap-chengdu"


SECRETS = [SKEY, TOKEN, "api-token-value-123", "webhook-token-value-456", "webhook-hmac-value-789"]
SECRETS += ["notify-secret-value-000", "urlsecret"]


def test_no_secret_in_str_or_repr() -> None:
    cfg = Config(full_env())
    shown = [repr(cfg), str(cfg), repr(cfg.credentials), str(cfg.credentials)]
    shown += [repr(cfg.api_auth), repr(cfg.webhook_auth), repr(cfg.notify), str(cfg.notify)]
    for text in shown:
        for secret in [*SECRETS, SID]:
            assert secret not in text, (secret, text)


def test_no_secret_in_error_messages() -> None:
    env = full_env()
    env["TENCENTCLOUD_SECRETID"] = "AKID HAS SPACE " + SKEY
    del env["NOTIFY_SECRET"]
    env["NOTIFY_URL"] = "https://user:" + "pw-secret-xyz" + "@example.com/"
    errors = [error_of(env, "credentials"), error_of(env, "notify")]
    for err in errors:
        for text in (err.message, str(err), repr(err)):
            assert SKEY not in text
            assert "pw-secret-xyz" not in text


URL_SECRET = "q9UrlCredential0f1e2d3c"
USERINFO_SECRET = "u7UserInfoPassword4a5b"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tcr path?key={q}",  # a blank in the path
        "https://hooks.example.com/tcr?key={q} x",  # a blank in the query (surrounding blanks are trimmed)
        "https://hooks.example.com/tcr?key={q}\tx",
        "https://hooks.example.com/tcr\r\nX-Injected: 1?key={q}",
        "https://hooks.example.com/caf\u00e9?key={q}",
        "hooks.example.com/tcr?key={q}",  # no scheme
        "//hooks.example.com/tcr?key={q}",
        "https:///tcr?key={q}",  # no host
        "https://?key={q}",
        "ftp://hooks.example.com/tcr?key={q}",
        "javascript:alert(1)//?key={q}",
        "https://user:{u}@hooks.example.com/tcr?key={q}",
        "https://hooks.example.com:0/tcr?key={q}",
        "https://hooks.example.com:99999/tcr?key={q}",
        "https://hooks.example.com:http/tcr?key={q}",
        "https://[::1/tcr?key={q}",
        "https://[fe80::zz]/tcr?key={q}",
        "https://hooks..example.com/tcr?key={q}",
        "https://-hooks.example.com/tcr?key={q}",
        "https://hooks.example.com/" + "a" * 2100 + "?key={q}",
    ],
)
def test_malformed_notify_url_names_the_variable_and_never_echoes_it(url: str) -> None:
    env = full_env()
    env["NOTIFY_URL"] = url.format(q=URL_SECRET, u=USERINFO_SECRET)
    err = error_of(env, "notify")
    assert err.variable == "NOTIFY_URL"
    assert err.message.startswith("configuration error: NOTIFY_URL ")
    shown = " ".join([err.message, str(err), repr(err), str(err.to_body("r-1"))])
    for secret in (URL_SECRET, USERINFO_SECRET, "hooks", "example"):
        assert secret not in shown, (secret, shown)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tcr?key=x&sig=y",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
        "HTTPS://Hooks.Example.COM./x#frag",
        "https://hooks_1.example.com/a%20b",
    ],
)
def test_well_formed_notify_url_is_accepted(url: str) -> None:
    env = full_env()
    env["NOTIFY_URL"] = url
    target = Config(env).notify
    assert target is not None and target.url == url


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5", "20001"])
def test_audit_tcr_call_budget_is_a_bounded_whole_number(value: str) -> None:
    env = full_env()
    env["AUDIT_TCR_CALL_BUDGET"] = value
    err = error_of(env, "audit_tcr_call_budget")
    assert err.variable == "AUDIT_TCR_CALL_BUDGET" and "AUDIT_TCR_CALL_BUDGET" in err.message


def test_audit_tcr_call_budget_default_and_setting() -> None:
    env = full_env()
    assert Config(env).audit_tcr_call_budget == 400
    env["AUDIT_TCR_CALL_BUDGET"] = " 25 "
    assert Config(env).audit_tcr_call_budget == 25


@pytest.mark.parametrize(
    ("variable", "attribute", "value"),
    [
        ("REPLICATION_SLA_SECONDS", "sla_seconds", "\u00b2"),  # superscript two: str.isdigit() says yes
        ("REPLICATION_SLA_SECONDS", "sla_seconds", "\u0663\u0660"),  # Arabic-Indic thirty
        ("AUDIT_TCR_CALL_BUDGET", "audit_tcr_call_budget", "\u00b9\u2070"),
        ("TCR_ENDPOINT", "tcr_endpoint", "127.0.0.1:\u00b2"),
        ("COS_ENDPOINT", "cos_endpoint", "127.0.0.1:9\u0660"),
    ],
)
def test_digits_other_than_ascii_are_a_config_error_not_a_crash(variable: str, attribute: str, value: str) -> None:
    env = full_env()
    env[variable] = value
    err = error_of(env, attribute)
    assert err.variable == variable


def test_replica_cache_seconds_refuses_digits_other_than_ascii() -> None:
    from shared import webhook

    env = full_env()
    env["REPLICA_CACHE_SECONDS"] = "\u00b2"
    with pytest.raises(ConfigError) as info:
        webhook.cache_seconds(Config(env))
    assert info.value.variable == "REPLICA_CACHE_SECONDS"


def test_each_read_checks_the_current_values_even_after_a_good_one() -> None:
    """get_credential_info() remembers the last good read; a changed value is checked again, a bad one refused."""
    env = full_env()
    creds = Config(env).credentials
    assert creds.get_credential_info() == (SID, SKEY, TOKEN)
    env["TENCENTCLOUD_SECRETKEY"] = "has a blank"
    with pytest.raises(ConfigError) as caught:
        creds.get_credential_info()
    assert caught.value.variable == "TENCENTCLOUD_SECRETKEY"
    del env["TENCENTCLOUD_SECRETKEY"]
    with pytest.raises(ConfigError):
        creds.get_credential_info()
    env["TENCENTCLOUD_SECRETKEY"] = SKEY
    del env["TENCENTCLOUD_SESSIONTOKEN"]
    assert creds.get_credential_info() == (SID, SKEY, None)
