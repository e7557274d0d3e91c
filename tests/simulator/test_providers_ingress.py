"""Ingress providers through the real SDKs (issue 17): Application Gateway for Containers
(azure-mgmt-servicenetworking), WAF policies and Application Gateway v2 (azure-mgmt-network), the
federated credentials of user-assigned identities (azure-mgmt-msi) -- with Azure's rules."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.servicenetworking import ServiceNetworkingMgmtClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_route_table, make_vnet

AGC_DELEGATION = "Microsoft.ServiceNetworking/trafficControllers"


def _subnet(name: str, prefix: str, delegation: str | None = None, **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"addressPrefix": prefix, **props}
    if delegation:
        body["delegations"] = [{"name": "d", "properties": {"serviceName": delegation}}]
    return {"name": name, "properties": body}


def _code(err: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str | None]:
    return err.value.status_code, err.value.error.code if err.value.error else None


def _waf(net: NetworkManagementClient, rg: str, name: str = "waf1", mode: str = "Prevention",
         sets: list[tuple[str, str]] | None = None) -> Any:
    default = [("Microsoft_DefaultRuleSet", "2.1"), ("Microsoft_BotManagerRuleSet", "1.1")]
    rule_sets = sets if sets is not None else default
    return net.web_application_firewall_policies.create_or_update(rg, name, {
        "location": LOCATION,
        "properties": {
            "policySettings": {"state": "Enabled", "mode": mode},
            "managedRules": {"managedRuleSets": [{"ruleSetType": t, "ruleSetVersion": v} for t, v in rule_sets]},
        },
    })


def _tc(sn: ServiceNetworkingMgmtClient, rg: str, name: str = "agc1", location: str = LOCATION) -> Any:
    return sn.traffic_controller_interface.begin_create_or_update(
        rg, name, {"location": location, "properties": {}}).result()


def _association(sn: ServiceNetworkingMgmtClient, rg: str, tc: str, subnet_id: str, name: str = "as1") -> Any:
    return sn.associations_interface.begin_create_or_update(rg, tc, name, {
        "location": LOCATION, "properties": {"associationType": "subnets", "subnet": {"id": subnet_id}},
    }).result()


def test_traffic_controller_association_needs_a_delegated_24_one_deployment_per_subnet(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    sn = client(ServiceNetworkingMgmtClient)
    vnet = make_vnet(network_client, rg, subnets=[
        _subnet("snet-agc", "10.1.0.0/24", AGC_DELEGATION),
        _subnet("plain", "10.1.1.0/24"),
        _subnet("small", "10.1.2.0/26", AGC_DELEGATION),
    ])
    sid = {s.name: s.id for s in network_client.subnets.list(rg, vnet.name)}

    with pytest.raises(HttpResponseError) as err:  # not a region that offers AGC
        _tc(sn, rg, "agc-far", "westindia")
    assert _code(err) == (400, "LocationNotAvailableForResourceType")
    tc = _tc(sn, rg)
    assert tc["properties"]["provisioningState"] == "Succeeded"

    with pytest.raises(HttpResponseError) as err:
        _association(sn, rg, "agc1", sid["plain"])
    assert _code(err) == (400, "SubnetNotDelegated")
    with pytest.raises(HttpResponseError) as err:
        _association(sn, rg, "agc1", sid["small"])
    assert _code(err) == (400, "SubnetSizeTooSmall")
    assoc = _association(sn, rg, "agc1", sid["snet-agc"])
    assert assoc["properties"]["subnet"]["id"].lower() == sid["snet-agc"].lower()

    _tc(sn, rg, "agc2")
    with pytest.raises(HttpResponseError) as err:  # one deployment per subnet
        _association(sn, rg, "agc2", sid["snet-agc"])
    assert _code(err) == (409, "SubnetAlreadyInUse")
    with pytest.raises(HttpResponseError) as err:  # the subnet of an association is fixed
        _association(sn, rg, "agc1", sid["plain"].replace("plain", "small"))
    assert _code(err)[0] == 400

    fe = sn.frontends_interface.begin_create_or_update(
        rg, "agc1", "fe", {"location": LOCATION, "properties": {}}).result()
    assert fe["properties"]["fqdn"].endswith(".alb.azure.com")
    viewed = sn.traffic_controller_interface.get(rg, "agc1")["properties"]
    assert [a["id"] for a in viewed["associations"]] == [assoc["id"]]
    assert [f["id"] for f in viewed["frontends"]] == [fe["id"]]

    # the delegated subnet shows the link, keeps its delegation and cannot go while associated
    subnet = network_client.subnets.get(rg, vnet.name, "snet-agc")
    assert [link.properties.link for link in subnet.service_association_links] == [assoc["id"]]
    with pytest.raises(HttpResponseError) as err:
        network_client.subnets.begin_create_or_update(
            rg, vnet.name, "snet-agc", _subnet("snet-agc", "10.1.0.0/24")).result()
    assert _code(err) == (400, "InUseSubnetCannotBeUpdated")
    with pytest.raises(HttpResponseError) as err:
        network_client.subnets.begin_delete(rg, vnet.name, "snet-agc").result()
    assert _code(err) == (400, "InUseSubnetCannotBeDeleted")
    sn.associations_interface.begin_delete(rg, "agc1", "as1").result()
    network_client.subnets.begin_delete(rg, vnet.name, "snet-agc").result()


def test_security_policy_links_one_waf_policy_that_stays_while_linked(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    sn = client(ServiceNetworkingMgmtClient)
    waf = _waf(network_client, rg)
    _tc(sn, rg)
    sp = sn.security_policies_interface.begin_create_or_update(
        rg, "agc1", "waf", {"location": LOCATION, "properties": {"wafPolicy": {"id": waf.id}}}).result()
    assert sp["properties"]["policyType"] == "waf"
    for props in ({}, {"wafPolicy": {"id": waf.id}, "ipAccessRulesPolicy": {"rules": []}}):
        with pytest.raises(HttpResponseError) as err:
            sn.security_policies_interface.begin_create_or_update(
                rg, "agc1", "bad", {"location": LOCATION, "properties": props}).result()
        assert _code(err) == (400, "InvalidSecurityPolicy")
    with pytest.raises(HttpResponseError) as err:
        network_client.web_application_firewall_policies.begin_delete(rg, "waf1").result()
    assert _code(err) == (400, "ApplicationGatewayFirewallPolicyInUse")
    sn.security_policies_interface.begin_delete(rg, "agc1", "waf").result()
    network_client.web_application_firewall_policies.begin_delete(rg, "waf1").result()


@pytest.mark.parametrize(("mode", "sets", "code"), [
    ("Block", None, "InvalidPolicySettings"),
    ("Prevention", [("Microsoft_DefaultRuleSet", "1.0")], "InvalidManagedRuleSet"),
    ("Prevention", [("Microsoft_DefaultRuleSet", "2.1"), ("OWASP", "3.2")], "InvalidManagedRuleSet"),
    ("Prevention", [("Microsoft_BotManagerRuleSet", "9.9")], "InvalidManagedRuleSet"),
    ("Prevention", [("OWASP_CRS", "3.2")], "InvalidManagedRuleSet"),
    ("Prevention", [], "InvalidManagedRuleSet"),
])
def test_waf_policy_modes_and_rule_sets(
    sim: Simulator, network_client: NetworkManagementClient, rg: str, mode: str,
    sets: list[tuple[str, str]] | None, code: str,
) -> None:
    with pytest.raises(HttpResponseError) as err:
        _waf(network_client, rg, mode=mode, sets=sets)
    assert _code(err) == (400, code)
    ok = _waf(network_client, rg, mode="Detection", sets=[("OWASP", "3.2"), ("Microsoft_BotManagerRuleSet", "1.0")])
    assert ok.policy_settings.mode == "Detection"


def _gateway(rg: str, sub: str, subnet_id: str, pip_id: str, waf_id: str | None, **changes: Any) -> dict[str, Any]:
    gw = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/applicationGateways/agw1"
    props: dict[str, Any] = {
        "sku": {"name": "WAF_v2", "tier": "WAF_v2"},
        "autoscaleConfiguration": {"minCapacity": 2, "maxCapacity": 10},
        "gatewayIPConfigurations": [{"name": "gw", "properties": {"subnet": {"id": subnet_id}}}],
        "frontendIPConfigurations": [
            {"name": "public", "properties": {"publicIPAddress": {"id": pip_id}}},
            {"name": "private", "properties": {"privateIPAllocationMethod": "Static",
                                               "privateIPAddress": "10.1.0.254", "subnet": {"id": subnet_id}}},
        ],
        "frontendPorts": [{"name": "http", "properties": {"port": 80}}],
        "backendAddressPools": [{"name": "pool", "properties": {}}],
        "backendHttpSettingsCollection": [{"name": "http", "properties": {"port": 80, "protocol": "Http"}}],
        "httpListeners": [{"name": "l", "properties": {
            "frontendIPConfiguration": {"id": f"{gw}/frontendIPConfigurations/public"},
            "frontendPort": {"id": f"{gw}/frontendPorts/http"}, "protocol": "Http"}}],
        "requestRoutingRules": [{"name": "r", "properties": {
            "ruleType": "Basic", "priority": 100, "httpListener": {"id": f"{gw}/httpListeners/l"},
            "backendAddressPool": {"id": f"{gw}/backendAddressPools/pool"},
            "backendHttpSettings": {"id": f"{gw}/backendHttpSettingsCollection/http"}}}],
    }
    if waf_id:
        props["firewallPolicy"] = {"id": waf_id}
    props.update(changes)
    return {"location": LOCATION, "zones": ["1", "2", "3"], "properties": props}


def test_application_gateway_v2_subnet_rules(
    sim: Simulator, network_client: NetworkManagementClient, rg: str, sub: str
) -> None:
    net = network_client
    rt = make_route_table(net, rg, "rt-fw")
    vnet = make_vnet(net, rg, subnets=[
        _subnet("snet-appgw", "10.1.0.0/24"),
        _subnet("snet-routed", "10.1.1.0/24", routeTable={"id": rt.id}),
        _subnet("snet-agc", "10.1.2.0/24", AGC_DELEGATION),
    ])
    sid = {s.name: s.id for s in net.subnets.list(rg, vnet.name)}
    pip = net.public_ip_addresses.begin_create_or_update(rg, "pip-agw", {
        "location": LOCATION, "sku": {"name": "Standard"}, "zones": ["1", "2", "3"],
        "properties": {"publicIPAllocationMethod": "Static"},
    }).result()
    zonal = net.public_ip_addresses.begin_create_or_update(rg, "pip-zone1", {
        "location": LOCATION, "sku": {"name": "Standard"}, "zones": ["1"],
        "properties": {"publicIPAllocationMethod": "Static"},
    }).result()
    waf = _waf(net, rg)

    def create(body: dict[str, Any]) -> Any:
        return net.application_gateways.begin_create_or_update(rg, "agw1", body).result()

    private = {"privateIPAllocationMethod": "Static", "privateIPAddress": "10.1.9.9"}
    cases: list[tuple[dict[str, Any], str]] = [
        (_gateway(rg, sub, sid["snet-routed"], pip.id, waf.id),
         "ApplicationGatewayV2SubnetWithRouteToVirtualAppliance"),
        (_gateway(rg, sub, sid["snet-agc"], pip.id, waf.id), "ApplicationGatewaySubnetCannotBeShared"),
        (_gateway(rg, sub, sid["snet-appgw"], pip.id, None), "ApplicationGatewaySkuNotSupported"),
        (_gateway(rg, sub, sid["snet-appgw"], pip.id, waf.id,
                  autoscaleConfiguration={"minCapacity": 5, "maxCapacity": 2}), "ApplicationGatewayInvalidCapacity"),
        (_gateway(rg, sub, sid["snet-appgw"], pip.id, waf.id, frontendIPConfigurations=[
            {"name": "private", "properties": {**private, "subnet": {"id": sid["snet-appgw"]}}}]),
         "ApplicationGatewayFrontendIpConfigurationInvalid"),
        (_gateway(rg, sub, sid["snet-appgw"], zonal.id, waf.id), "ApplicationGatewayFrontendIpConfigurationInvalid"),
    ]
    for body, code in cases:
        with pytest.raises(HttpResponseError) as err:
            create(body)
        assert _code(err) == (400, code), code
    no_priority = _gateway(rg, sub, sid["snet-appgw"], pip.id, waf.id)
    del no_priority["properties"]["requestRoutingRules"][0]["properties"]["priority"]
    with pytest.raises(HttpResponseError) as err:
        create(no_priority)
    assert _code(err) == (400, "ApplicationGatewayRequestRoutingRulePriority")

    gw = create(_gateway(rg, sub, sid["snet-appgw"], pip.id, waf.id))
    assert gw.sku.name == "WAF_v2" and sorted(gw.zones) == ["1", "2", "3"]
    assert gw.firewall_policy.id.lower() == waf.id.lower()
    subnet = net.subnets.get(rg, vnet.name, "snet-appgw")
    assert [c.id for c in subnet.application_gateway_ip_configurations] == [f"{gw.id}/gatewayIPConfigurations/gw"]
    assert [g.id for g in net.web_application_firewall_policies.get(rg, "waf1").application_gateways] == [gw.id]
    # the gateway's subnet never takes a 0.0.0.0/0 route to an appliance, and stays while used
    with pytest.raises(HttpResponseError) as err:
        net.subnets.begin_create_or_update(
            rg, vnet.name, "snet-appgw", _subnet("snet-appgw", "10.1.0.0/24", routeTable={"id": rt.id})).result()
    assert _code(err) == (400, "ApplicationGatewayV2SubnetWithRouteToVirtualAppliance")
    to_internet = make_route_table(net, rg, "rt-internet", next_hop="Internet")
    net.subnets.begin_create_or_update(
        rg, vnet.name, "snet-appgw", _subnet("snet-appgw", "10.1.0.0/24", routeTable={"id": to_internet.id})).result()
    for delete in (lambda: net.subnets.begin_delete(rg, vnet.name, "snet-appgw").result(),
                   lambda: net.web_application_firewall_policies.begin_delete(rg, "waf1").result(),
                   lambda: net.public_ip_addresses.begin_delete(rg, "pip-agw").result()):
        with pytest.raises(HttpResponseError) as err:
            delete()
        assert err.value.status_code == 400
    net.application_gateways.begin_delete(rg, "agw1").result()
    net.web_application_firewall_policies.begin_delete(rg, "waf1").result()


def test_federated_identity_credentials(sim: Simulator, client: Any, rg: str) -> None:
    msi = client(ManagedServiceIdentityClient)
    msi.user_assigned_identities.create_or_update(rg, "id-alb", {"location": LOCATION})

    def fic(name: str, issuer: str = "https://oidc.example/issuer/", audiences: list[str] | None = None) -> Any:
        return msi.federated_identity_credentials.create_or_update(rg, "id-alb", name, {"properties": {
            "issuer": issuer, "subject": "system:serviceaccount:azure-alb-system:alb-controller-sa",
            "audiences": audiences or ["api://AzureADTokenExchange"]}})

    for bad in (lambda: fic("plain-http", issuer="http://oidc.example/"),
                lambda: fic("two-audiences", audiences=["a", "b"]),
                lambda: fic("x")):
        with pytest.raises(HttpResponseError) as err:
            bad()
        assert _code(err) == (400, "BadRequest")
    made = fic("alb-controller")
    assert made.issuer == "https://oidc.example/issuer/"
    for i in range(19):
        fic(f"cred-{i:02d}")
    with pytest.raises(HttpResponseError) as err:  # at most 20 per identity
        fic("one-too-many")
    assert _code(err) == (400, "BadRequest")
    assert len(list(msi.federated_identity_credentials.list(rg, "id-alb"))) == 20
