"""The liquidation listener: Binance's, Bybit's and OKX's liquidation streams to cascade alerts on SQS.

Run with `python -m listener`; configured by the environment (architecture.md §2.2, listener/settings.py).
"""

import os

# Powertools loggers (ours and the shared core's child loggers) take their service name from here.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "listener")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CryptoAlerts")
