"""Microsoft.Compute/virtualMachines.

* ``networkProfile.networkInterfaces[].id`` must exist (the core's reference check) and a NIC
  can belong to one VM only (409 ``NicInUse``); the NIC gets ``virtualMachine: {id}`` back.
  https://learn.microsoft.com/azure/virtual-network/virtual-network-network-interface-vm#constraints
* ``osProfile.linuxConfiguration.disablePasswordAuthentication: true`` needs
  ``ssh.publicKeys`` -> 400 ``InvalidParameter`` "Authentication using either SSH or by user
  name and password must be enabled in Linux profile." (target ``linuxConfiguration``).
  https://learn.microsoft.com/azure/virtual-machines/linux/create-ssh-keys-detailed
* ``osProfile.adminPassword`` is never returned (Azure never returns secrets).
  https://learn.microsoft.com/rest/api/compute/virtual-machines/get#osprofile
* Server-assigned ``vmId``; ``diagnosticsProfile.bootDiagnostics.storageUri`` must be a blob
  endpoint when given (managed boot diagnostics when omitted).
  https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics
* Create ~120 s (long-running).
"""

from __future__ import annotations

import re

from hubspoke_deploy.simulator.providers.base import (
    ArmError,
    DeleteContext,
    ResourceType,
    WriteContext,
    deep_get,
    register,
)
from hubspoke_deploy.simulator.providers.identity import assign_system_identity

VM_TYPE = "Microsoft.Compute/virtualMachines"
_BLOB_URI = re.compile(r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/?$")


def _nic_ids(resource: dict[str, object]) -> list[str]:
    out: list[str] = []
    for nic in deep_get(resource, "properties.networkProfile.networkInterfaces") or []:
        if isinstance(nic, dict) and isinstance(nic.get("id"), str):
            out.append(nic["id"])
    return out


@register
class VirtualMachines(ResourceType):
    type_name = VM_TYPE
    create_latency_s = 120.0
    update_latency_s = 30.0
    delete_latency_s = 60.0
    long_running = True
    requires_location = True
    secret_paths = (
        "properties.osProfile.adminPassword",
        "properties.osProfile.customData",
        "identity.simPrincipalCreatedAt",
    )
    schema = {"properties.networkProfile": "object", "properties.hardwareProfile": "object"}

    def validate(self, ctx: WriteContext) -> None:
        props = ctx.props
        linux = deep_get(props, "osProfile.linuxConfiguration")
        if isinstance(linux, dict) and linux.get("disablePasswordAuthentication") is True:
            keys = deep_get(linux, "ssh.publicKeys") or []
            if not keys:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
                    details=[
                        {
                            "code": "InvalidParameter",
                            "target": "linuxConfiguration",
                            "message": "disablePasswordAuthentication requires ssh.publicKeys",
                        }
                    ],
                )
        if (
            ctx.is_create
            and deep_get(props, "osProfile") is not None
            and not deep_get(props, "osProfile.adminUsername")
        ):
            raise ArmError(400, "InvalidParameter", "Required parameter 'adminUsername' is missing (null).")
        if not _nic_ids(ctx.resource):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'networkProfile' is missing (null).",
            )
        for nic_id in _nic_ids(ctx.resource):
            nic = ctx.store.get(nic_id)
            owner = deep_get(nic, "properties.virtualMachine.id") if nic else None
            if isinstance(owner, str) and owner.lower() != ctx.rid.key:
                raise ArmError(
                    409,
                    "NicInUse",
                    f"Network Interface {nic_id} is used by existing resource {owner}. In order to use this "
                    "Network Interface, it must be detached from the resource.",
                )
        uri = deep_get(props, "diagnosticsProfile.bootDiagnostics.storageUri")
        if uri is not None and not _BLOB_URI.match(str(uri)):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value '{uri}' of parameter 'bootDiagnostics.storageUri' is not a valid storage blob endpoint.",
            )

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        props["vmId"] = old.get("vmId") or ctx.store.new_guid()
        props["timeCreated"] = old.get("timeCreated") or "2026-01-01T00:00:00.0000000Z"
        assign_system_identity(ctx)
        # Back-reference on the NICs (and drop it from NICs no longer attached).
        # The NIC's ``virtualMachine`` is read-only in Microsoft.Network, so it is kept on the
        # stored NIC itself.
        new_nics = {n.lower() for n in _nic_ids(ctx.resource)}
        for nic_id in _nic_ids(ctx.existing or {}):
            if nic_id.lower() not in new_nics:
                nic = ctx.store.get(nic_id)
                if nic is not None:
                    nic.get("properties", {}).pop("virtualMachine", None)
        for nic_id in _nic_ids(ctx.resource):
            nic = ctx.store.get(nic_id)
            if nic is not None:
                nic.setdefault("properties", {})["virtualMachine"] = {"id": ctx.resource.get("id", ctx.rid.id)}

    def on_delete(self, ctx: DeleteContext) -> None:
        for nic_id in _nic_ids(ctx.resource):
            nic = ctx.store.get(nic_id)
            if nic is not None and str(deep_get(nic, "properties.virtualMachine.id", "")).lower() == ctx.rid.key:
                nic.get("properties", {}).pop("virtualMachine", None)
