"""The built-in system app: the admin's Apps window. Always installed, never removable."""
