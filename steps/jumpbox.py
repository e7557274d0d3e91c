"""Azure Bastion in the hub and the jump box VM in the cluster spoke (issue 6).

The jump box has no public IP; it is reached only through Bastion (native
client tunnelling, ``az network bastion ssh``). Its NSG sits on the NIC so the
jump box subnet (owned by ``steps.network``, shared with the private
endpoints) needs no NSG association ordering, and allows SSH only from
AzureBastionSubnet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import arm_id, out, props, ref
from hubspoke_deploy.steps.identity import PlatformStep
from hubspoke_deploy.steps.network import PublicIpStep, association_blockers, subnet_id

# --------------------------------------------------------------------------- keys

BASTION = "bastion"
BASTION_PIP = "bastion.pip"
JUMPBOX_NSG = "jumpbox.nsg"
JUMPBOX_NIC = "jumpbox.nic"
JUMPBOX_VM = "jumpbox.vm"


def bastion_name(cfg: DeploymentConfig) -> str:
    return f"bas-{cfg.name}"


def bastion_pip_name(cfg: DeploymentConfig) -> str:
    return f"pip-bas-{cfg.name}"


def jumpbox_vm_name(cfg: DeploymentConfig) -> str:
    return f"vm-{cfg.name}-jumpbox"


def jumpbox_vm_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.Compute/virtualMachines", jumpbox_vm_name(cfg))


# --------------------------------------------------------------------------- bastion


class BastionStep(PlatformStep):
    client = "network"
    operations = "bastion_hosts"
    resource_type = "Microsoft.Network/bastionHosts"
    immutable = ("location", "properties.ipConfigurations")

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG, BASTION_PIP, keys.subnet(keys.HUB, "bastion")))

    def names(self) -> tuple[str, ...]:
        return (bastion_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties = {
            # Native client support (`az network bastion ssh`) needs Standard or Premium:
            # https://learn.microsoft.com/azure/bastion/native-client
            "enableTunneling": config.bastion.effective_tunneling,
            "ipConfigurations": [
                {
                    "name": "ipconfig",
                    "properties": {
                        "subnet": ref(subnet_id(config, keys.HUB, "bastion")),
                        "publicIPAddress": ref(upstream[BASTION_PIP]["id"]),
                    },
                }
            ],
        }
        return self.top(config, properties, sku={"name": config.bastion.sku})


# --------------------------------------------------------------------------- jump box


class JumpboxNsgStep(PlatformStep):
    """NSG of the jump box NIC: SSH from AzureBastionSubnet only, everything else inbound denied."""

    client = "network"
    operations = "network_security_groups"
    resource_type = "Microsoft.Network/networkSecurityGroups"

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (f"nsg-{self.cfg.name}-jumpbox",)

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        """NICs or subnets this deployment does not own still use the NSG: Azure would refuse
        the delete (InUseNetworkSecurityGroupCannotBeDeleted)."""
        return association_blockers(ctx, observed, owned)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        rules: list[dict[str, Any]] = []
        bastion_prefix = config.hub.subnets.bastion
        if bastion_prefix:
            rules.append(_rule("AllowSshFromBastion", 100, "Allow", "Tcp", bastion_prefix, "22"))
        # The default AllowVnetInBound (65000) would admit SSH from every peered VNet.
        rules.append(_rule("DenyAllOtherInbound", 4096, "Deny", "*", "*", "*"))
        return self.top(config, {"securityRules": rules})


def _rule(name: str, priority: int, access: str, protocol: str, source: str, port: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "priority": priority,
            "direction": "Inbound",
            "access": access,
            "protocol": protocol,
            "sourceAddressPrefix": source,
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": port,
        },
    }


class JumpboxNicStep(PlatformStep):
    """NIC without a public IP (the spec pins ``publicIPAddress`` absent, so one added by hand is drift)."""

    client = "network"
    operations = "network_interfaces"
    resource_type = "Microsoft.Network/networkInterfaces"
    immutable = ("location",)

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG, JUMPBOX_NSG, keys.subnet(cfg.cluster_spoke_name, "jumpbox")))

    def names(self) -> tuple[str, ...]:
        return (f"nic-{self.cfg.name}-jumpbox",)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties = {
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "properties": {
                        "subnet": ref(subnet_id(config, config.cluster_spoke_name, "jumpbox")),
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddressVersion": "IPv4",
                        "primary": True,
                        "publicIPAddress": None,
                    },
                }
            ],
            "networkSecurityGroup": ref(upstream[JUMPBOX_NSG]["id"]),
        }
        return self.top(config, properties)

    def outputs(self, observed: Spec) -> Outputs:
        configs = props(observed).get("ipConfigurations") or []
        ip = None
        if configs and isinstance(configs[0], Mapping):
            ip = props(configs[0]).get("privateIPAddress")
        return out(observed, private_ip=ip)


class JumpboxVmStep(PlatformStep):
    """Ubuntu LTS VM: SSH key only, managed OS disk, managed boot diagnostics."""

    client = "compute"
    operations = "virtual_machines"
    resource_type = "Microsoft.Compute/virtualMachines"
    # osProfile cannot change after creation ("Changing property 'osProfile' is not allowed");
    # the image and the OS disk are replaced with the VM.
    immutable = (
        "location",
        "properties.osProfile",
        "properties.storageProfile.imageReference",
        "properties.storageProfile.osDisk.name",
        "properties.storageProfile.osDisk.createOption",
    )

    # Boot diagnostics to a storage account are switched off for managed ones: a storageUri is drift.
    owns: ClassVar[Mapping[str, Any]] = {"properties.diagnosticsProfile.bootDiagnostics.storageUri": None}

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        # The VM boots once its egress exists: the firewall with the jump box's rules (its subnet's
        # route table no longer waits for the firewall).
        super().__init__(key, cfg, (keys.RG, JUMPBOX_NIC, keys.FIREWALL))

    def names(self) -> tuple[str, ...]:
        return (jumpbox_vm_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        jb = config.jumpbox
        user = jb.admin_username
        image = jb.image
        properties = {
            "hardwareProfile": {"vmSize": jb.vm_size},
            "storageProfile": {
                "imageReference": {
                    "publisher": image.publisher,
                    "offer": image.offer,
                    "sku": image.sku,
                    "version": image.version,
                },
                "osDisk": {
                    "name": f"osdisk-{jumpbox_vm_name(config)}",
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": "StandardSSD_LRS"},
                    "deleteOption": "Delete",
                },
            },
            "osProfile": {
                "computerName": "jumpbox",
                "adminUsername": user,
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "provisionVMAgent": True,
                    "ssh": {
                        "publicKeys": [
                            {"path": f"/home/{user}/.ssh/authorized_keys", "keyData": config.ssh_public_key}
                        ]
                    },
                },
            },
            "networkProfile": {
                "networkInterfaces": [{"id": upstream[JUMPBOX_NIC]["id"], "properties": {"primary": True}}]
            },
            # Managed boot diagnostics (no storageUri): the portal's screenshot and the Serial
            # Console keep working although the deployment's storage account has public access
            # off (https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics,
            # https://learn.microsoft.com/troubleshoot/azure/virtual-machines/serial-console-overview).
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        }
        return self.top(config, properties)


def jumpbox_steps(cfg: DeploymentConfig) -> list[PlatformStep | PublicIpStep]:
    result: list[PlatformStep | PublicIpStep] = []
    if cfg.bastion.enabled:
        result.append(PublicIpStep(BASTION_PIP, cfg, bastion_pip_name(cfg)))
        result.append(BastionStep(BASTION, cfg))
    if cfg.jumpbox.enabled:
        result.append(JumpboxNsgStep(JUMPBOX_NSG, cfg))
        result.append(JumpboxNicStep(JUMPBOX_NIC, cfg))
        result.append(JumpboxVmStep(JUMPBOX_VM, cfg))
    return result
