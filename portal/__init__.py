"""MiPortal: a desktop in the browser whose apps are Python packages."""

__version__ = "0.1.0"
