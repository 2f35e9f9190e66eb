"""Contract tests of localcloud's COS store, driven only through the real cos-python-sdk-v5 client.

Expectations come from COS's documented behaviour (status codes, error codes, XML fields), from independent
computations in the test (MD5, CRC-64/XZ check value), or from literal values; never from what the server
just answered.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosClientError, CosServiceError

from localcloud.cos import CosService
from localcloud.faults import FaultPlanError, Faults
from localcloud.httpd import Server

SECRET_ID = "AKIDLOCALCLOUD0000000000000000000000"
SECRET_KEY = "localcloudSecretKey00000000000000"
REGION = "ap-guangzhou"
BUCKET = "tcr-replication-log-1250000000"
# temporary (role) credentials: a different key pair that is only valid with its security token
ROLE_ID = "AKIDROLETEMPORARY0000000000000000000"
ROLE_KEY = "roleTemporarySecretKey00000000000"
ROLE_TOKEN = "role-session-token-0001"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


class Cloud:
    def __init__(self, service: CosService, faults: Faults, server: Server) -> None:
        self.service = service
        self.faults = faults
        self.server = server

    def client(
        self,
        *,
        secret_id: str = SECRET_ID,
        secret_key: str = SECRET_KEY,
        token: str | None = None,
        retry: int = 0,
        anonymous: bool = False,
        region: str = REGION,
    ) -> CosS3Client:
        config = CosConfig(
            Region=region,
            SecretId=secret_id,
            SecretKey=secret_key,
            Token=token,
            Scheme="http",
            IP="127.0.0.1",
            Port=self.server.port,
            Timeout=10,
            Anonymous=anonymous,
        )
        return CosS3Client(config, retry=retry)


def _start(**kwargs: object) -> tuple[Cloud, Server]:
    faults = Faults()
    service = CosService(
        keys={SECRET_ID: SECRET_KEY, ROLE_ID: ROLE_KEY},
        tokens={ROLE_ID: ROLE_TOKEN},
        faults=faults,
        buckets=[BUCKET],
        **kwargs,  # type: ignore[arg-type]
    )  # type: ignore[arg-type]
    server = Server(service.handle, 0).start()
    return Cloud(service, faults, server), server


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    c, server = _start()
    try:
        yield c
    finally:
        server.close()


@pytest.fixture
def cos(cloud: Cloud) -> Iterator[CosS3Client]:
    yield cloud.client()
    cloud.faults.clear()


def _put_many(client: CosS3Client, keys: list[str]) -> None:
    def put(key: str) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))


def _error(exc: pytest.ExceptionInfo[CosServiceError]) -> tuple[int, str]:
    return exc.value.get_status_code(), exc.value.get_error_code()


# ----- objects -------------------------------------------------------------------------------------------------------


def test_put_get_head_round_trip_with_fields(cos: CosS3Client) -> None:
    body = b'{"schemaVersion": 1, "digest": "sha256:abc"}'
    key = "objects/ap-guangzhou/2025-01-02/rec 1+x/中文.json"
    put = cos.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        ContentType="application/json",
        Metadata={"x-cos-meta-schema": "1"},
    )
    expected_etag = '"' + hashlib.md5(body).hexdigest() + '"'
    assert put["ETag"] == expected_etag
    assert put["x-cos-request-id"]

    got = cos.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].get_raw_stream().read() == body
    assert got["ETag"] == expected_etag
    assert got["Content-Type"] == "application/json"
    assert got["Content-Length"] == str(len(body))
    assert got["x-cos-meta-schema"] == "1"
    assert got["x-cos-request-id"]
    assert got["Last-Modified"].endswith("GMT")

    head = cos.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"] == expected_etag
    assert head["Content-Length"] == str(len(body))
    assert head["x-cos-meta-schema"] == "1"
    assert head["x-cos-request-id"] != got["x-cos-request-id"]


def test_crc64_header_is_crc64_xz(cos: CosS3Client) -> None:
    # 0x995DC9BBDF1939FA is the published CRC-64/XZ (ECMA-182) check value of b"123456789"
    put = cos.put_object(Bucket=BUCKET, Key="crc/check", Body=b"123456789")
    assert put["x-cos-hash-crc64ecma"] == str(0x995DC9BBDF1939FA)


def test_default_content_type_and_overwrite(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="over/k", Body=b"one")
    cos.put_object(Bucket=BUCKET, Key="over/k", Body=b"two")
    got = cos.get_object(Bucket=BUCKET, Key="over/k")
    assert got["Body"].get_raw_stream().read() == b"two"
    assert got["Content-Type"] == "application/octet-stream"


def test_get_range(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="range/k", Body=b"0123456789")
    got = cos.get_object(Bucket=BUCKET, Key="range/k", Range="bytes=2-4")
    assert got["Body"].get_raw_stream().read() == b"234"
    assert got["Content-Range"] == "bytes 2-4/10"
    tail = cos.get_object(Bucket=BUCKET, Key="range/k", Range="bytes=-3")
    assert tail["Body"].get_raw_stream().read() == b"789"
    with pytest.raises(CosServiceError) as exc:
        cos.get_object(Bucket=BUCKET, Key="range/k", Range="bytes=20-30")
    assert _error(exc) == (416, "InvalidRange")


def test_missing_key_is_no_such_key(cos: CosS3Client) -> None:
    with pytest.raises(CosServiceError) as exc:
        cos.get_object(Bucket=BUCKET, Key="missing/nothing-here")
    assert _error(exc) == (404, "NoSuchKey")
    assert exc.value.get_request_id()
    assert exc.value.get_resource_location().endswith("/missing/nothing-here")
    # HEAD has no body: the SDK names every HEAD 404 NoSuchResource itself
    with pytest.raises(CosServiceError) as head_exc:
        cos.head_object(Bucket=BUCKET, Key="missing/nothing-here")
    assert head_exc.value.get_status_code() == 404


def test_object_exists_and_delete(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="del/k", Body=b"x")
    assert cos.object_exists(Bucket=BUCKET, Key="del/k") is True
    deleted = cos.delete_object(Bucket=BUCKET, Key="del/k")
    assert deleted["x-cos-request-id"]
    assert cos.object_exists(Bucket=BUCKET, Key="del/k") is False
    # deleting a key that does not exist succeeds, as on COS
    cos.delete_object(Bucket=BUCKET, Key="del/never-existed")


def test_if_none_match_star_refuses_existing_key(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="cond/new", Body=b"first", IfNoneMatch="*")
    with pytest.raises(CosServiceError) as exc:
        cos.put_object(Bucket=BUCKET, Key="cond/new", Body=b"second", IfNoneMatch="*")
    assert _error(exc) == (412, "PreconditionFailed")
    assert cos.get_object(Bucket=BUCKET, Key="cond/new")["Body"].get_raw_stream().read() == b"first"


def test_content_md5_is_checked(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="md5/ok", Body=b"abc", EnableMD5=True)
    with pytest.raises(CosServiceError) as exc:
        cos.put_object(Bucket=BUCKET, Key="md5/bad", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert _error(exc) == (400, "InvalidDigest")
    assert cos.object_exists(Bucket=BUCKET, Key="md5/bad") is False


# ----- listing -------------------------------------------------------------------------------------------------------


def test_list_pages_through_2500_keys(cos: CosS3Client) -> None:
    keys = [f"page/{i:05d}.json" for i in range(2500)]
    _put_many(cos, keys)
    seen: list[str] = []
    pages: list[int] = []
    marker = ""
    while True:
        page = cos.list_objects(Bucket=BUCKET, Prefix="page/", Marker=marker, MaxKeys=1000)
        contents = page.get("Contents", [])
        pages.append(len(contents))
        seen.extend(item["Key"] for item in contents)
        if page["IsTruncated"] != "true":
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert marker == contents[-1]["Key"]
    assert pages == [1000, 1000, 500]
    assert seen == keys  # sorted, complete, no duplicates
    first = cos.list_objects(Bucket=BUCKET, Prefix="page/", MaxKeys=1)["Contents"][0]
    assert first["Size"] == str(len(b"page/00000.json"))
    assert first["ETag"] == '"' + hashlib.md5(b"page/00000.json").hexdigest() + '"'
    assert first["StorageClass"] == "STANDARD"
    assert first["LastModified"].endswith("Z")


def test_list_default_and_capped_max_keys(cos: CosS3Client) -> None:
    _put_many(cos, [f"cap/{i:05d}" for i in range(1001)])
    page = cos.list_objects(Bucket=BUCKET, Prefix="cap/")  # the SDK sends max-keys=1000 by default
    assert len(page["Contents"]) == 1000
    assert page["IsTruncated"] == "true"
    capped = cos.list_objects(Bucket=BUCKET, Prefix="cap/", MaxKeys=5000)
    assert capped["MaxKeys"] == "1000"
    assert len(capped["Contents"]) == 1000


def test_list_delimiter_common_prefixes_and_paging(cos: CosS3Client) -> None:
    for key in ["tree/a/1", "tree/a/2", "tree/b/1", "tree/c", "tree/e/x/y", "treeless"]:
        cos.put_object(Bucket=BUCKET, Key=key, Body=b"-")
    whole = cos.list_objects(Bucket=BUCKET, Prefix="tree/", Delimiter="/")
    assert [p["Prefix"] for p in whole["CommonPrefixes"]] == ["tree/a/", "tree/b/", "tree/e/"]
    assert [c["Key"] for c in whole["Contents"]] == ["tree/c"]
    assert whole["IsTruncated"] == "false"

    first = cos.list_objects(Bucket=BUCKET, Prefix="tree/", Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["tree/a/", "tree/b/"]
    assert "Contents" not in first or first["Contents"] == []
    assert first["IsTruncated"] == "true"
    assert first["NextMarker"] == "tree/b/"
    second = cos.list_objects(Bucket=BUCKET, Prefix="tree/", Delimiter="/", MaxKeys=2, Marker=first["NextMarker"])
    assert [c["Key"] for c in second["Contents"]] == ["tree/c"]
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["tree/e/"]
    assert second["IsTruncated"] == "false"


def test_list_encoding_type_url(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="enc/a b&c.txt", Body=b"-")
    raw = cos.list_objects(Bucket=BUCKET, Prefix="enc/", EncodingType="url")  # SDK does not decode then
    assert raw["EncodingType"] == "url"
    assert [c["Key"] for c in raw["Contents"]] == ["enc/a%20b%26c.txt"]
    decoded = cos.list_objects(Bucket=BUCKET, Prefix="enc/")  # SDK asks for url and decodes
    assert [c["Key"] for c in decoded["Contents"]] == ["enc/a b&c.txt"]


def test_list_empty_prefix_returns_no_contents(cos: CosS3Client) -> None:
    page = cos.list_objects(Bucket=BUCKET, Prefix="nothing-under-here/")
    assert page["IsTruncated"] == "false"
    assert "Contents" not in page


# ----- batch delete --------------------------------------------------------------------------------------------------


def test_delete_objects_1000_keys_in_one_call(cloud: Cloud, cos: CosS3Client) -> None:
    keys = [f"batch/{i:04d}" for i in range(1000)]
    _put_many(cos, keys)
    before = cloud.service.stats().get("DeleteObjects", 0)
    result = cos.delete_objects(Bucket=BUCKET, Delete={"Quiet": "false", "Object": [{"Key": k} for k in keys]})
    assert cloud.service.stats()["DeleteObjects"] == before + 1
    assert sorted(d["Key"] for d in result["Deleted"]) == keys
    assert result.get("Error", []) == []
    assert "Contents" not in cos.list_objects(Bucket=BUCKET, Prefix="batch/")


def test_delete_objects_quiet_and_missing_keys(cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="quiet/1", Body=b"1")
    result = cos.delete_objects(
        Bucket=BUCKET, Delete={"Quiet": "true", "Object": [{"Key": "quiet/1"}, {"Key": "quiet/never"}]}
    )
    assert result.get("Deleted", []) == []
    assert result.get("Error", []) == []
    assert cos.object_exists(Bucket=BUCKET, Key="quiet/1") is False


def test_delete_objects_over_1000_is_malformed(cos: CosS3Client) -> None:
    with pytest.raises(CosServiceError) as exc:
        cos.delete_objects(Bucket=BUCKET, Delete={"Object": [{"Key": f"x/{i}"} for i in range(1001)]})
    assert _error(exc) == (400, "MalformedXML")


# ----- buckets -------------------------------------------------------------------------------------------------------


def test_create_and_head_bucket(cos: CosS3Client) -> None:
    assert cos.bucket_exists(Bucket="fresh-1250000000") is False
    cos.create_bucket(Bucket="fresh-1250000000")
    cos.head_bucket(Bucket="fresh-1250000000")
    assert cos.bucket_exists(Bucket="fresh-1250000000") is True
    with pytest.raises(CosServiceError) as exc:
        cos.create_bucket(Bucket="fresh-1250000000")
    assert _error(exc) == (409, "BucketAlreadyExists")
    cos.put_object(Bucket="fresh-1250000000", Key="k", Body=b"v")
    assert "Contents" not in cos.list_objects(Bucket=BUCKET, Prefix="k")


def test_bucket_created_in_a_region_is_not_found_through_another(cloud: Cloud, cos: CosS3Client) -> None:
    cos.create_bucket(Bucket="regional-1250000000")  # created through the ap-guangzhou domain
    cos.put_object(Bucket="regional-1250000000", Key="k", Body=b"v")
    with pytest.raises(CosServiceError) as exc:
        cloud.client(region="ap-shanghai").get_object(Bucket="regional-1250000000", Key="k")
    assert _error(exc) == (404, "NoSuchBucket")


def test_programmatic_create_bucket(cloud: Cloud, cos: CosS3Client) -> None:
    cloud.service.create_bucket("made-by-code-1250000000")
    cos.head_bucket(Bucket="made-by-code-1250000000")


def test_unknown_bucket_is_no_such_bucket(cos: CosS3Client) -> None:
    for call in (
        lambda: cos.put_object(Bucket="nobucket-1250000000", Key="k", Body=b"v"),
        lambda: cos.get_object(Bucket="nobucket-1250000000", Key="k"),
        lambda: cos.list_objects(Bucket="nobucket-1250000000"),
    ):
        with pytest.raises(CosServiceError) as exc:
            call()
        assert _error(exc) == (404, "NoSuchBucket")
    assert cos.bucket_exists(Bucket="nobucket-1250000000") is False


# ----- authentication ------------------------------------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match(cloud: Cloud, cos: CosS3Client) -> None:
    bad = cloud.client(secret_key="not-the-secret")
    with pytest.raises(CosServiceError) as exc:
        bad.put_object(Bucket=BUCKET, Key="auth/wrong", Body=b"x")
    assert _error(exc) == (403, "SignatureDoesNotMatch")
    assert cos.object_exists(Bucket=BUCKET, Key="auth/wrong") is False
    with pytest.raises(CosServiceError) as list_exc:
        bad.list_objects(Bucket=BUCKET, Prefix="auth/")
    assert _error(list_exc) == (403, "SignatureDoesNotMatch")


def test_unknown_secret_id_is_invalid_access_key_id(cloud: Cloud) -> None:
    with pytest.raises(CosServiceError) as exc:
        cloud.client(secret_id="AKIDunknown").get_object(Bucket=BUCKET, Key="auth/any")
    assert _error(exc) == (403, "InvalidAccessKeyId")


def test_missing_authorization_is_access_denied(cloud: Cloud) -> None:
    with pytest.raises(CosServiceError) as exc:
        cloud.client(anonymous=True).get_object(Bucket=BUCKET, Key="auth/any")
    assert _error(exc) == (403, "AccessDenied")


def test_security_token_is_not_needed_nor_checked_with_the_permanent_keys(cloud: Cloud) -> None:
    client = cloud.client(token="any-session-token")
    client.put_object(Bucket=BUCKET, Key="auth/token", Body=b"t")
    assert client.get_object(Bucket=BUCKET, Key="auth/token")["Body"].get_raw_stream().read() == b"t"


def test_temporary_keys_work_with_their_security_token(cloud: Cloud, cos: CosS3Client) -> None:
    role = cloud.client(secret_id=ROLE_ID, secret_key=ROLE_KEY, token=ROLE_TOKEN)
    role.put_object(Bucket=BUCKET, Key="auth/role", Body=b"r")
    assert cos.get_object(Bucket=BUCKET, Key="auth/role")["Body"].get_raw_stream().read() == b"r"
    assert [o["Key"] for o in role.list_objects(Bucket=BUCKET, Prefix="auth/role")["Contents"]] == ["auth/role"]


@pytest.mark.parametrize("token", [None, "role-session-token-0002", ""])
def test_temporary_keys_without_their_security_token_are_refused(
    cloud: Cloud, cos: CosS3Client, token: str | None
) -> None:
    role = cloud.client(secret_id=ROLE_ID, secret_key=ROLE_KEY, token=token)
    key = f"auth/role-no-token-{token}"
    with pytest.raises(CosServiceError) as exc:
        role.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert _error(exc) == (403, "InvalidAccessKeyId")
    assert cos.object_exists(Bucket=BUCKET, Key=key) is False
    with pytest.raises(CosServiceError) as list_exc:
        role.list_objects(Bucket=BUCKET, Prefix="auth/")
    assert _error(list_exc) == (403, "InvalidAccessKeyId")


def _fetch(url: str) -> tuple[int, bytes]:
    """GET a pre-signed URL of the local endpoint, naming the bucket in the Host header as COS's domain does."""
    req = urllib.request.Request(url, headers={"Host": f"{BUCKET}.cos.{REGION}.myqcloud.com"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_presigned_url_of_temporary_keys_needs_the_token_in_the_query(cloud: Cloud, cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="auth/presigned-role", Body=b"p")
    role = cloud.client(secret_id=ROLE_ID, secret_key=ROLE_KEY, token=ROLE_TOKEN)
    with_token = role.get_presigned_url(
        Bucket=BUCKET,
        Key="auth/presigned-role",
        Method="GET",
        Params={"x-cos-security-token": ROLE_TOKEN},
        SignHost=False,
    )
    without = role.get_presigned_url(Bucket=BUCKET, Key="auth/presigned-role", Method="GET", SignHost=False)
    assert _fetch(with_token) == (200, b"p")
    status, body = _fetch(without)
    assert status == 403
    assert b"<Code>InvalidAccessKeyId</Code>" in body


@pytest.mark.parametrize("skew", [20000.0, -3600.0])
def test_signature_outside_its_time_window_is_refused(skew: float) -> None:
    # The SDK signs [now-60, now+10000]; a server clock past the end or before the start refuses the request.
    c, server = _start(now=lambda: time.time() + skew)
    try:
        with pytest.raises(CosServiceError) as exc:
            c.client().put_object(Bucket=BUCKET, Key="skew", Body=b"x")
        assert _error(exc) == (403, "AccessDenied")
        assert c.service.snapshot()["buckets"][BUCKET]["objects"] == {}
    finally:
        server.close()


def _fetch_full(url: str, *, virtual_host: bool = True) -> tuple[int, str, bytes]:
    """GET a pre-signed URL with no Authorization header: by COS's bucket domain (Host header, as the SDK
    signs it) or path-style (`/<bucket>/<key>` on the endpoint itself, what a browser can open locally)."""
    headers = {"Host": f"{BUCKET}.cos.{REGION}.myqcloud.com"} if virtual_host else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def _path_style(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}/{BUCKET}/{path}"


def test_presigned_get_serves_the_page_with_its_content_type_until_it_expires() -> None:
    # COS checks q-sign-time on a pre-signed URL as on a header signature: valid inside, 403 after its end.
    clock = {"now": time.time()}
    c, server = _start(now=lambda: clock["now"])
    try:
        page = b"<!DOCTYPE html><title>report</title>"
        key = "reports/tcr-1/latest.html"
        c.client().put_object(Bucket=BUCKET, Key=key, Body=page, ContentType="text/html; charset=utf-8")
        url = c.client().get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=900)
        unsigned_host = c.client().get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=900, SignHost=False)
        # the SDK signs the URL's host (here the endpoint's address): opened there, path-style, it serves the page
        assert _fetch_full(_path_style(url), virtual_host=False) == (200, "text/html; charset=utf-8", page)
        # the host is signed: the same URL sent to another host name is refused; unsigned, any host will do
        assert _fetch_full(url)[0] == 403
        assert _fetch_full(unsigned_host) == (200, "text/html; charset=utf-8", page)
        clock["now"] += 901
        for status, _, body in (_fetch_full(_path_style(url), virtual_host=False), _fetch_full(unsigned_host)):
            assert status == 403
            assert b"<Code>AccessDenied</Code>" in body
    finally:
        server.close()


@pytest.mark.parametrize(
    "alter",
    [
        lambda url: url.replace("latest.html", "other.html"),
        lambda url: url.replace("q-signature=", "q-signature=0"),
        lambda url: url.replace("q-sign-time=", "q-sign-time=1"),
    ],
    ids=["other-key", "signature", "sign-time"],
)
def test_altered_presigned_url_is_refused(cloud: Cloud, cos: CosS3Client, alter: object) -> None:
    cos.put_object(Bucket=BUCKET, Key="reports/tcr-2/latest.html", Body=b"<p>a</p>")
    cos.put_object(Bucket=BUCKET, Key="reports/tcr-2/other.html", Body=b"<p>b</p>")
    url = cos.get_presigned_url(Bucket=BUCKET, Key="reports/tcr-2/latest.html", Method="GET", Expired=900)
    url = _path_style(url)
    assert _fetch_full(url, virtual_host=False)[0] == 200
    status, _, body = _fetch_full(alter(url), virtual_host=False)  # type: ignore[operator]
    assert status == 403, body
    assert b"<Code>SignatureDoesNotMatch</Code>" in body or b"<Code>AccessDenied</Code>" in body


# ----- faults --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "ServiceUnavailable"), (500, "InternalError"), (429, "SlowDown")],
)
def test_injected_error_status_and_nothing_stored(cloud: Cloud, cos: CosS3Client, status: int, code: str) -> None:
    cloud.faults.set({"seed": 3, "cos": {"errorRate": 1.0, "statuses": [status]}})
    key = f"faults/{status}"
    with pytest.raises(CosServiceError) as exc:
        cos.put_object(Bucket=BUCKET, Key=key, Body=b"lost")
    assert _error(exc) == (status, code)
    cloud.faults.clear()
    assert cos.object_exists(Bucket=BUCKET, Key=key) is False


def test_injected_drop_is_a_client_error_and_nothing_stored(cloud: Cloud, cos: CosS3Client) -> None:
    cloud.faults.set({"cos": {"dropRate": 1.0}})
    with pytest.raises(CosClientError):
        cos.put_object(Bucket=BUCKET, Key="faults/drop", Body=b"lost")
    cloud.faults.clear()
    assert cos.object_exists(Bucket=BUCKET, Key="faults/drop") is False


def test_injected_slow_answer_still_applies_and_is_counted(cloud: Cloud, cos: CosS3Client) -> None:
    before = cloud.faults.injected()["cos"].get("slow", 0)
    cloud.faults.set({"cos": {"slowRate": 1.0, "slowMs": 300, "operations": ["PutObject"]}})
    t = time.monotonic()
    cos.put_object(Bucket=BUCKET, Key="faults/slow", Body=b"late")
    assert time.monotonic() - t >= 0.3
    cloud.faults.clear()
    assert cos.get_object(Bucket=BUCKET, Key="faults/slow")["Body"].get_raw_stream().read() == b"late"
    assert cloud.faults.injected()["cos"]["slow"] == before + 1


def test_fault_plan_refuses_bad_slow_and_reorder_settings() -> None:
    for plan in (
        {"cos": {"slowRate": 1.5}},
        {"tcr": {"slowMs": -1}},
        {"webhook": {"reorderRate": "x"}},
        {"webhook": {"reorderDelayMs": [500, 100]}},
    ):
        with pytest.raises(FaultPlanError):
            Faults(plan)


def test_faults_scoped_to_operations(cloud: Cloud, cos: CosS3Client) -> None:
    cos.put_object(Bucket=BUCKET, Key="faults/scoped", Body=b"kept")
    cloud.faults.set({"cos": {"errorRate": 1.0, "statuses": [503], "operations": ["PutObject"]}})
    assert cos.get_object(Bucket=BUCKET, Key="faults/scoped")["Body"].get_raw_stream().read() == b"kept"
    with pytest.raises(CosServiceError):
        cos.put_object(Bucket=BUCKET, Key="faults/scoped", Body=b"changed")
    cloud.faults.clear()
    assert cos.get_object(Bucket=BUCKET, Key="faults/scoped")["Body"].get_raw_stream().read() == b"kept"


def test_sdk_retries_5xx_but_not_4xx(cloud: Cloud) -> None:
    # CosS3Client(conf, retry=N) resends after a 5xx (and after connection errors/timeouts), sleeping j seconds
    # before attempt j; it never resends a 4xx.
    client = cloud.client(retry=1)
    cloud.faults.set({"cos": {"errorRate": 1.0, "statuses": [503], "operations": ["HeadObject"]}})
    before = cloud.service.stats().get("HeadObject", 0)
    with pytest.raises(CosServiceError) as exc:
        client.head_object(Bucket=BUCKET, Key="retry/k")
    assert exc.value.get_status_code() == 503
    assert cloud.service.stats()["HeadObject"] == before + 2
    cloud.faults.clear()
    before_get = cloud.service.stats().get("GetObject", 0)
    with pytest.raises(CosServiceError):
        client.get_object(Bucket=BUCKET, Key="retry/missing")
    assert cloud.service.stats()["GetObject"] == before_get + 1


# ----- stats and state -----------------------------------------------------------------------------------------------


def test_stats_count_calls_per_operation(cloud: Cloud, cos: CosS3Client) -> None:
    before = cloud.service.stats()
    cos.put_object(Bucket=BUCKET, Key="stats/k", Body=b"1")
    cos.get_object(Bucket=BUCKET, Key="stats/k")
    cos.head_object(Bucket=BUCKET, Key="stats/k")
    cos.list_objects(Bucket=BUCKET, Prefix="stats/")
    cos.delete_object(Bucket=BUCKET, Key="stats/k")
    after = cloud.service.stats()
    for op in ("PutObject", "GetObject", "HeadObject", "ListObjects", "DeleteObject"):
        assert after[op] == before.get(op, 0) + 1, op


def test_snapshot_restore_round_trip() -> None:
    a, server_a = _start()
    b, server_b = _start()
    try:
        client_a = a.client()
        client_a.put_object(Bucket=BUCKET, Key="snap/x.json", Body=b"\x00\xffbinary", ContentType="application/json")
        client_a.create_bucket(Bucket="other-1250000000")
        state = json.loads(json.dumps(a.service.snapshot()))
        b.service.restore(state)
        client_b = b.client()
        got = client_b.get_object(Bucket=BUCKET, Key="snap/x.json")
        assert got["Body"].get_raw_stream().read() == b"\x00\xffbinary"
        assert got["Content-Type"] == "application/json"
        assert got["ETag"] == '"' + hashlib.md5(b"\x00\xffbinary").hexdigest() + '"'
        assert client_b.bucket_exists(Bucket="other-1250000000") is True
        assert [c["Key"] for c in client_b.list_objects(Bucket=BUCKET)["Contents"]] == ["snap/x.json"]
    finally:
        server_a.close()
        server_b.close()
