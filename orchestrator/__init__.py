"""hubspoke_deploy.orchestrator."""
