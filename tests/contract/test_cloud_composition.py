"""How LocalCloud composes its services: the log bucket answers in its own region only, as COS does; the
functions' credentials are temporary role credentials that need their session token (TCR and COS)."""

from __future__ import annotations

from typing import Any

import pytest
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tcr.v20190924 import tcr_client

_ENV_TOKEN: Any = object()


def client(env: dict[str, str], region: str, token: Any = _ENV_TOKEN) -> CosS3Client:
    host, port = env["COS_ENDPOINT"].split(":")
    conf = CosConfig(
        Region=region,
        SecretId=env["TENCENTCLOUD_SECRETID"],
        SecretKey=env["TENCENTCLOUD_SECRETKEY"],
        Token=env["TENCENTCLOUD_SESSIONTOKEN"] if token is _ENV_TOKEN else token,
        Scheme="http",
        IP=host,
        Port=int(port),
    )
    return CosS3Client(conf, retry=0)


def test_log_bucket_lives_in_its_region_only(cloud_env):
    bucket = cloud_env["LOG_BUCKET"]
    right = client(cloud_env, cloud_env["LOG_BUCKET_REGION"])
    right.put_object(Bucket=bucket, Key="composition/probe", Body=b"x")
    assert right.head_object(Bucket=bucket, Key="composition/probe")
    with pytest.raises(CosServiceError) as info:
        client(cloud_env, "ap-singapore").put_object(Bucket=bucket, Key="composition/probe", Body=b"y")
    assert info.value.get_error_code() == "NoSuchBucket"
    right.delete_object(Bucket=bucket, Key="composition/probe")


def _tcr(env: dict[str, str], token: str | None) -> Any:
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=env["TCR_ENDPOINT"], protocol="http", reqTimeout=10))
    cred = credential.Credential(env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"], token)
    return tcr_client.TcrClient(cred, env["TENCENTCLOUD_REGION"], profile)


def test_env_hands_out_temporary_role_credentials(cloud_env):
    # What SCF injects: a SecretId/SecretKey pair that is not the account's permanent key, and a session token.
    assert cloud_env["TENCENTCLOUD_SECRETID"] != "AKIDLOCALCLOUD0000000000000000000000"
    assert cloud_env["TENCENTCLOUD_SECRETKEY"] != "localcloudSecretKey00000000000000"
    assert cloud_env["TENCENTCLOUD_SESSIONTOKEN"]


def test_role_credentials_are_refused_without_their_token_by_tcr_and_cos(cloud_env):
    assert _tcr(cloud_env, cloud_env["TENCENTCLOUD_SESSIONTOKEN"]).call_json("DescribeRegions", {})["Response"]
    for token in (None, cloud_env["TENCENTCLOUD_SESSIONTOKEN"] + "x"):
        with pytest.raises(TencentCloudSDKException) as tcr_info:
            _tcr(cloud_env, token).call_json("DescribeRegions", {})
        assert tcr_info.value.get_code() == "AuthFailure.TokenFailure"
        with pytest.raises(CosServiceError) as cos_info:
            client(cloud_env, cloud_env["LOG_BUCKET_REGION"], token=token).head_bucket(Bucket=cloud_env["LOG_BUCKET"])
        assert cos_info.value.get_status_code() == 403


def test_the_permanent_key_needs_no_token(cloud_env):
    permanent = {
        **cloud_env,
        "TENCENTCLOUD_SECRETID": "AKIDLOCALCLOUD0000000000000000000000",
        "TENCENTCLOUD_SECRETKEY": "localcloudSecretKey00000000000000",
    }
    assert _tcr(permanent, None).call_json("DescribeRegions", {})["Response"]
    client(permanent, permanent["LOG_BUCKET_REGION"], token=None).head_bucket(Bucket=permanent["LOG_BUCKET"])


def test_permanent_key_override_is_accepted_and_the_default_is_not(monkeypatch):
    from localcloud.cloud import LocalCloud

    monkeypatch.setenv("LOCALCLOUD_SECRET_ID", "AKIDOVERRIDE00000000000000000000000")
    monkeypatch.setenv("LOCALCLOUD_SECRET_KEY", "overrideSecretKey0000000000000000")
    with LocalCloud(port=0, functions={}, log_stream=None) as cloud:
        env = cloud.env()
        override = {
            **env,
            "TENCENTCLOUD_SECRETID": "AKIDOVERRIDE00000000000000000000000",
            "TENCENTCLOUD_SECRETKEY": "overrideSecretKey0000000000000000",
        }
        assert _tcr(override, None).call_json("DescribeRegions", {})["Response"]
        client(override, env["LOG_BUCKET_REGION"], token=None).head_bucket(Bucket=env["LOG_BUCKET"])
        default = {
            **env,
            "TENCENTCLOUD_SECRETID": "AKIDLOCALCLOUD0000000000000000000000",
            "TENCENTCLOUD_SECRETKEY": "localcloudSecretKey00000000000000",
        }
        with pytest.raises(TencentCloudSDKException) as info:
            _tcr(default, None).call_json("DescribeRegions", {})
        assert info.value.get_code() == "AuthFailure.SecretIdNotFound"
        assert _tcr(env, env["TENCENTCLOUD_SESSIONTOKEN"]).call_json("DescribeRegions", {})["Response"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-11-18T07:49:43.783810Z", "2024-11-18T07:49:43.78381Z"),
        ("2024-11-18T07:49:43.000000Z", "2024-11-18T07:49:43Z"),
        ("2020-04-14T02:47:23.177329+08:00", "2020-04-14T02:47:23.177329+08:00"),
        ("2024-12-10 14:30:36.806200 +0000 UTC", "2024-12-10 14:30:36.8062 +0000 UTC"),
    ],
)
def test_times_drop_trailing_fraction_zeros_as_go_does(given, expected):
    # the API's own examples show `.78381Z`: a client that assumes 6 digits must fail here, not in the cloud
    from localcloud.tcr.params import _go_fraction

    assert _go_fraction(given) == expected


def _post(url: str, raw: bytes) -> tuple[int, Any]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=raw, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_instance_status_admin_route_pins_what_tcr_reports():
    from localcloud.cloud import LocalCloud

    with LocalCloud(port=0, functions={}, log_stream=None, replica_ready_after_s=0.0) as cloud:
        env = cloud.env()
        tcr = _tcr(env, env["TENCENTCLOUD_SESSIONTOKEN"])
        rid = tcr.call_json("CreateInstance", {"RegistryName": "route-pin", "RegistryType": "premium"})["Response"][
            "RegistryId"
        ]
        url = f"{cloud.host_url}/_localcloud/instance-status"

        def status() -> str:  # from the region's listing: naming a not-Running instance is refused
            listed = tcr.call_json("DescribeInstances", {"Limit": 100})["Response"]["Registries"]
            return next(r["Status"] for r in listed if r["RegistryId"] == rid)

        assert status() == "Running"  # no deployment delay configured
        assert _post(url, b'{"registryId": "%s", "status": "Unhealthy"}' % rid.encode()) == (
            200,
            {"registryId": rid, "status": "Unhealthy"},
        )
        assert status() == "Unhealthy"
        for action, params in (
            ("CreateReplicationInstance", {"RegistryId": rid, "ReplicationRegionName": "ap-shanghai"}),
            ("DescribeInstances", {"Registryids": [rid]}),
            ("DescribeReplicationInstances", {"RegistryId": rid}),
        ):
            with pytest.raises(TencentCloudSDKException) as info:
                tcr.call_json(action, params)
            assert info.value.get_code() == "ResourceInsufficient.ErrorInstanceNotRunning", action

        code, body = _post(url, b'{"registryId": "tcr-nobody00", "status": "Isolate"}')
        assert code == 404 and body["error"]["code"]
        for raw in (b"not json", b"[]", b'{"registryId": "%s", "status": "Sleeping"}' % rid.encode(), b"{}"):
            code, body = _post(url, raw)
            assert code == 400, raw
            assert body["error"]["message"]
        assert status() == "Unhealthy"  # the refused bodies changed nothing
