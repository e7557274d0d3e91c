"""hubspoke_deploy.simulator."""
