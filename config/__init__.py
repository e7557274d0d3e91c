"""hubspoke_deploy.config."""
