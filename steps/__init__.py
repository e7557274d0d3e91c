"""hubspoke_deploy.steps."""
