"""The app registry: manifests, discovery, installation per tenant and mounting."""
