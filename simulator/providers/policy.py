"""Microsoft.Authorization/policyAssignments (extension resource at any scope; azure-mgmt-resource-policy
1.0.0, api-version 2026-06-01, synchronous PUT answering 201 to a create and to an update, DELETE 200/204).
https://learn.microsoft.com/rest/api/policy/policy-assignments/create

* ``policyDefinitionId`` required; a built-in definition must be one Azure has (the table below holds
  the Kubernetes initiatives the deployment uses), a custom one must exist in the store
  -> 404 ``PolicySetDefinitionNotFound`` / ``PolicyDefinitionNotFound``;
* parameters must be defined by the definition -> 400 ``UndefinedPolicyParameter``, and take one of
  its allowed values -> 400 ``InvalidPolicyParameters``
  (https://learn.microsoft.com/azure/governance/policy/troubleshoot/general);
* an identity needs a location -> 400 ``LocationRequired``
  (https://learn.microsoft.com/azure/governance/policy/concepts/assignment-structure#identity);
  a system-assigned identity gets a principal id;
* ``enforcementMode`` ``Default`` or ``DoNotEnforce`` -> 400 ``InvalidRequestContent``;
* assignment names at most 64 characters (24 at management group scope) -> 400 ``InvalidPolicyAssignmentName``
  (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftauthorization).
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import ArmError, ResourceType, WriteContext, register
from hubspoke_deploy.simulator.providers.identity import assign_system_identity

ASSIGNMENT_TYPE = "Microsoft.Authorization/policyAssignments"

_EFFECTS = ("audit", "Audit", "deny", "Deny", "disabled", "Disabled")
_PSS_PARAMETERS: dict[str, tuple[str, ...] | None] = {
    "effect": _EFFECTS,
    "excludedNamespaces": None,
    "namespaces": None,
    "allowedHostPaths": None,
}
#: lower-cased built-in policy set definition id -> parameter name -> allowed values (None: any)
# https://github.com/Azure/azure-policy/blob/master/built-in-policies/policySetDefinitions/Kubernetes/PSPBaselineStandard.json
# https://github.com/Azure/azure-policy/blob/master/built-in-policies/policySetDefinitions/Kubernetes/PSPRestrictedStandard.json
BUILTIN_SETS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "/providers/microsoft.authorization/policysetdefinitions/a8640138-9b0a-4a28-b8cb-1666c838647d": _PSS_PARAMETERS,
    "/providers/microsoft.authorization/policysetdefinitions/42b8ef37-b724-4e24-bbc8-7a7708edfe00": {
        **_PSS_PARAMETERS,
        "allowedHostPaths": None,
    },
}


@register
class PolicyAssignments(ResourceType):
    type_name = ASSIGNMENT_TYPE
    create_latency_s = 0.0
    long_running = False
    update_status = 201
    delete_returns_body = True
    requires_location = False
    schema = {"properties.policyDefinitionId": "str", "properties.parameters": "object",
              "properties.enforcementMode": "str"}

    def validate(self, ctx: WriteContext) -> None:
        name = ctx.rid.name
        limit = 24 if "/managementgroups/" in ctx.rid.scope.lower() else 64
        if len(name) > limit:
            raise ArmError(400, "InvalidPolicyAssignmentName",
                           f"The policy assignment name '{name}' is longer than {limit} characters.")
        definition = ctx.props.get("policyDefinitionId")
        if not isinstance(definition, str) or not definition:
            raise ArmError(400, "InvalidRequestContent", "The policyDefinitionId property is required.")
        low = definition.lower().rstrip("/")
        is_set = "/policysetdefinitions/" in low
        code = "PolicySetDefinitionNotFound" if is_set else "PolicyDefinitionNotFound"
        allowed = BUILTIN_SETS.get(low)
        if allowed is None and (low.startswith("/providers/") or ctx.store.get(low) is None):
            kind = "policy set definition" if is_set else "policy definition"
            raise ArmError(404, code, f"The {kind} '{definition.rsplit('/', 1)[-1]}' could not be found.")
        params = ctx.props.get("parameters") or {}
        if allowed is not None and isinstance(params, dict):
            undefined = sorted(set(params) - set(allowed))
            if undefined:
                raise ArmError(400, "UndefinedPolicyParameter",
                               f"The policy assignment '{name}' has parameter(s) '{', '.join(undefined)}' which are "
                               "not defined in the policy definition.")
            for key, values in allowed.items():
                value = params.get(key, {}).get("value") if isinstance(params.get(key), dict) else None
                if values is not None and key in params and value not in values:
                    raise ArmError(400, "InvalidPolicyParameters",
                                   f"The value '{value}' of parameter '{key}' is not allowed; allowed values: "
                                   f"{', '.join(values)}.")
        mode = ctx.props.get("enforcementMode", "Default")
        if mode not in ("Default", "DoNotEnforce"):
            raise ArmError(400, "InvalidRequestContent", f"The enforcementMode '{mode}' is not valid.")
        identity = ctx.resource.get("identity")
        if isinstance(identity, dict) and str(identity.get("type", "None")) != "None" \
                and not ctx.resource.get("location"):
            raise ArmError(400, "LocationRequired",
                           "The location property is required for a policy assignment with a managed identity.")

    def on_write(self, ctx: WriteContext) -> None:
        ctx.props.setdefault("enforcementMode", "Default")
        ctx.props["scope"] = ctx.rid.scope
        assign_system_identity(ctx)
