"""Events: what happened, who may see it, and how it reaches desktops."""
