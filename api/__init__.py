"""hubspoke-deploy: private AKS behind Azure Firewall in a hub-spoke network."""

from hubspoke_deploy.errors import (
    ConfigError,
    DeploymentFailed,
    HubspokeError,
    Interrupted,
    StateCorrupt,
    StateError,
    StateLocked,
    StepFailed,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DeploymentFailed",
    "HubspokeError",
    "Interrupted",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StepFailed",
    "__version__",
]
