#!/usr/bin/env python3
"""Start MiPortal: `python run.py --help` lists the flags and environment variables."""

from portal.server import run
from portal.settings import load_settings

if __name__ == "__main__":
    run(load_settings())
