"""`python -m listener.healthcheck`: exit 0 when the local listener answers 200 on /health.

The container health check (Dockerfile HEALTHCHECK and the ECS task definition) runs this, so the
image needs no curl.
"""

from __future__ import annotations

import sys
import urllib.request

from cryptoalerts import config


def main() -> int:
    url = f"http://127.0.0.1:{config.get(config.HEALTH_PORT)}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:  # 503 arrives as HTTPError; refused or timed out as URLError
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
