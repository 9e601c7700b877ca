"""Symbol normalisation (architecture.md §2.7): exchange contract names to base-asset names.

`BTCUSDT`, `BTCUSDC`, `BTCUSDT_251226`, `BTC-USDT-SWAP` -> `BTC`; `1000PEPEUSDT` -> `PEPE`;
`1MBABYDOGEUSDT` -> `BABYDOGE`; Bybit's `SHIB1000USDT` -> `SHIB`; `1INCHUSDT` -> `1INCH`.
Anything that is not a USD-margined (USDT or USDC quoted) contract normalises to None.
"""

from __future__ import annotations

import re
from functools import lru_cache

QUOTES = ("USDT", "USDC")

# A multiplier is a leading 1 followed by three or more zeros, or 1M, with a name after it; or,
# as Bybit writes one contract (`SHIB1000USDT`, Binance's `1000SHIBUSDT`), the same number of
# thousands trailing a name of letters (before the quote, in a whole contract name).
_MULTIPLIER = re.compile(rf"^(?:10{{3,}}|1M)(?=.)|(?<=[^\W\d])10{{3,}}(?=(?:{'|'.join(QUOTES)})?$)")
# Binance dated futures: BTCUSDT_251226.
_DELIVERY_SUFFIX = re.compile(r"_\d{6}$")


def is_valid_symbol(value: object) -> bool:
    """A base-asset name: a non-empty string of Unicode letters and digits (`币安人生` is one)."""
    return isinstance(value, str) and value.isalnum()


@lru_cache(maxsize=8192)
def normalise(contract: str) -> str | None:
    """Base asset of a USD-margined contract name, or None when it is not one.

    Cached: the liquidation stream repeats a few hundred contract names millions of times.
    """
    if "-" in contract:  # OKX instrument ids: BASE-QUOTE-SWAP or BASE-QUOTE-YYMMDD
        parts = contract.split("-")
        if len(parts) != 3 or parts[1] not in QUOTES:
            return None
        return _base(parts[0])
    name = _DELIVERY_SUFFIX.sub("", contract)
    for quote in QUOTES:
        if name.endswith(quote):
            return _base(name[: -len(quote)])
    return None


def _base(prefixed: str) -> str | None:
    base = _MULTIPLIER.sub("", prefixed)
    return base if is_valid_symbol(base) else None


def multiplier(contract_base: str) -> int:
    """Coins per unit of the multiplied name: `1000PEPE` and `SHIB1000` -> 1000, `1MBABYDOGE` -> 1_000_000."""
    match = _MULTIPLIER.search(contract_base)
    if match is None:
        return 1
    prefix = match.group(0)
    return 1_000_000 if prefix == "1M" else int(prefix)
