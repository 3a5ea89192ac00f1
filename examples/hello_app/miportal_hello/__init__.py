"""Hello: the smallest useful MiPortal app."""
