from __future__ import annotations

import json

import pytest

from shared import policy
from shared.errors import ConfigError


def test_empty_means_no_policy():
    assert policy.parse(None) is None
    assert policy.parse("  ") is None


def test_inline_and_file(tmp_path):
    text = json.dumps({"allowedRegions": ["ap-shanghai", 8], "requiredRegions": ["ap-beijing"], "maxReplicas": 3})
    p = policy.parse(text)
    assert p is not None
    assert p.allowed == {"ap-shanghai", "ap-beijing"} and p.required == {"ap-beijing"} and p.max_replicas == 3
    f = tmp_path / "policy.json"
    f.write_text(text)
    assert policy.parse(str(f)) == p


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "names a file"),
        ('{"maxReplicas": -1}', "maxReplicas"),
        ('{"maxReplicas": "3"}', "maxReplicas"),
        ('{"allowedRegion": []}', "allowedRegion"),
        ('{"deniedRegions": ["ap-atlantis"]}', "ap-atlantis"),
        ('{"requiredRegions": ["ap-beijing"], "deniedRegions": ["ap-beijing"]}', "requires and denies"),
        ('{"requiredRegions": ["ap-beijing"], "allowedRegions": ["ap-shanghai"]}', "does not allow"),
        ("/nonexistent/policy.json", "cannot be read"),
    ],
)
def test_malformed_policy_is_a_config_error_naming_policy(raw, fragment):
    with pytest.raises(ConfigError) as info:
        policy.parse(raw)
    assert info.value.variable == "POLICY"
    assert "POLICY" in info.value.message
    assert fragment in info.value.message
    assert info.value.status == 503
