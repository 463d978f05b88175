"""Google Cloud infrastructure of the explorer: table schemas and data-plane provisioning."""
