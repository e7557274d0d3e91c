"""Microsoft.Compute/virtualMachines.

* ``networkProfile.networkInterfaces[].id`` must exist (the core's reference check) and a NIC
  can belong to one VM only (409 ``NicInUse``); the NIC's view shows ``virtualMachine: {id}``
  (computed from the VMs by a view hook, not stored on the NIC).
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
    JSON,
    ArmError,
    ResourceType,
    Store,
    WriteContext,
    deep_get,
    register,
    register_view_hook,
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
            owner = _owner_vm(ctx.store, nic_id)
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
        # The NICs' ``virtualMachine`` back-reference is computed on read (``_nic_view`` below).


def _owner_vm(store: Store, nic_id: str) -> str | None:
    """The id of the VM whose networkProfile lists the NIC (None when detached)."""
    for ref in store.referrers(nic_id):
        if str(ref.resource.get("type", "")).lower() == VM_TYPE.lower() and ref.path.startswith(
            "properties.networkProfile.networkInterfaces."
        ):
            return str(ref.resource["id"])
    return None


def _nic_view(store: Store, view: JSON) -> None:
    # A NIC shows the VM it is attached to in the read-only ``virtualMachine`` property
    # (https://learn.microsoft.com/rest/api/virtualnetwork/network-interfaces/get#networkinterface).
    # Computed from the VMs, never stored on the NIC: a later NIC PUT (whose body has no
    # ``virtualMachine``) cannot drop it, and deleting the VM removes it.
    props = view.setdefault("properties", {})
    props.pop("virtualMachine", None)
    owner = _owner_vm(store, str(view.get("id", "")))
    if owner is not None:
        props["virtualMachine"] = {"id": owner}


register_view_hook("compute-nic-virtualmachine", "Microsoft.Network/networkInterfaces", _nic_view)
