"""The global entry of a multi-region deployment has an origin in every region that publishes the
application (issue 18: Front Door or Traffic Manager in front of the regional ingress endpoints),
and it is built once, not once per region."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.steps.architecture import build_steps

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "multi-region.toml"


def _dnat(address: str) -> dict[str, Any]:
    return {"name": "web-https", "protocol": "TCP", "public_port": 443, "translated_address": address,
            "translated_port": 443, "dedicated_public_ip": True}


@pytest.mark.parametrize("kind", ["front-door", "traffic-manager"])
def test_every_region_that_publishes_the_app_is_an_origin(kind: str) -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    data["firewall"]["dnat_rules"] = [_dnat("10.1.4.250")]
    data["regions"][0]["firewall"] = {"tier": data["firewall"]["tier"], "dnat_rules": [_dnat("10.11.4.250")]}
    data["global_entry"] = {"kind": kind, "origin_host_header": "app.contoso.com"}
    steps = build_steps(load_config_dict(data, env={}))
    types = [s.resource_type.lower() for s in steps]
    profile_type = "microsoft.cdn/profiles" if kind == "front-door" else "microsoft.network/trafficmanagerprofiles"
    assert types.count(profile_type) == 1  # one global entry, not one per region
    by_key = {s.key: s for s in steps}
    if kind == "front-door":
        origins = [s for s in steps if s.resource_type.lower() == "microsoft.cdn/profiles/origingroups/origins"]
        sources = sorted(d for s in origins for d in s.requires if d in by_key
                         and by_key[d].resource_type.lower() == "microsoft.network/publicipaddresses")
    else:
        profile = next(s for s in steps if s.resource_type.lower() == profile_type)
        sources = sorted(d for d in profile.requires if d in by_key
                         and by_key[d].resource_type.lower() == "microsoft.network/publicipaddresses")
    assert len(sources) == 2, sources
    assert any(k.startswith("ne/") for k in sources) and any(not k.startswith("ne/") for k in sources)
