"""``python -m hubspoke_deploy.simulator [--port N] [--state-file PATH] ...``: the standalone simulator."""

from __future__ import annotations

import sys

from hubspoke_deploy.simulator.server import main

if __name__ == "__main__":
    sys.exit(main())
