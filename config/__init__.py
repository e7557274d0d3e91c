"""hubspoke_deploy.config: the validated TOML deployment config.

>>> from hubspoke_deploy.config import load_config
>>> cfg = load_config("deploy.toml")          # raises ConfigError listing every problem
>>> cfg.resource_group, cfg.tags, cfg.warnings
"""

from hubspoke_deploy.config.loader import load_config, load_config_dict
from hubspoke_deploy.config.model import (
    AcrConfig,
    AksConfig,
    ApplicationRule,
    AzureConfig,
    BastionConfig,
    DeploymentConfig,
    DeploymentSection,
    DnatRule,
    FirewallConfig,
    HubConfig,
    HubSubnets,
    JumpboxConfig,
    JumpboxImage,
    KeyVaultConfig,
    MonitoringConfig,
    NetworkRule,
    NodePool,
    SpokeConfig,
    SpokeSubnets,
    StateConfig,
    StorageConfig,
    SystemPool,
    UserPool,
)
from hubspoke_deploy.config.reference import config_reference_markdown
from hubspoke_deploy.config.schema import json_schema
from hubspoke_deploy.config.validate import validate_config
from hubspoke_deploy.errors import ConfigError, Problem

__all__ = [
    "AcrConfig",
    "AksConfig",
    "ApplicationRule",
    "AzureConfig",
    "BastionConfig",
    "ConfigError",
    "DeploymentConfig",
    "DeploymentSection",
    "DnatRule",
    "FirewallConfig",
    "HubConfig",
    "HubSubnets",
    "JumpboxConfig",
    "JumpboxImage",
    "KeyVaultConfig",
    "MonitoringConfig",
    "NetworkRule",
    "NodePool",
    "Problem",
    "SpokeConfig",
    "SpokeSubnets",
    "StateConfig",
    "StorageConfig",
    "SystemPool",
    "UserPool",
    "config_reference_markdown",
    "json_schema",
    "load_config",
    "load_config_dict",
    "validate_config",
]
