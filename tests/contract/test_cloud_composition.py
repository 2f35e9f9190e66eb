"""How LocalCloud composes its services: the log bucket answers in its own region only, as COS does."""

from __future__ import annotations

import pytest
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError


def client(env: dict[str, str], region: str) -> CosS3Client:
    host, port = env["COS_ENDPOINT"].split(":")
    conf = CosConfig(
        Region=region,
        SecretId=env["TENCENTCLOUD_SECRETID"],
        SecretKey=env["TENCENTCLOUD_SECRETKEY"],
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
