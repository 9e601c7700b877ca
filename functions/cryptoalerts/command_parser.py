"""What a Telegram message asks of the bot (architecture.md §2.9), pure: `/price@MyBot btc 1h` ->
Command("price", "BTC", "1h"), or an Invalid with a one-line answer saying how to write it.

Symbols are base assets in any case, also written as a contract or a ticker: `BTC`, `btc`,
`BTCUSDT`, `BTC-USDT`, `BTC-USDT-SWAP`, `BTC/USDT`, `BTCUSDT.P`, `$BTC` all mean BTC, and
`1000PEPEUSDT` means PEPE (cryptoalerts.symbols strips the multiplier). A command without one asks
about BTC. The bar size of /volume and /cvd may come before or after the symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptoalerts.symbols import QUOTES, is_valid_symbol, normalise

DEFAULT_SYMBOL = "BTC"
INTERVALS = ("15m", "1h", "4h", "1d")
# Commands that take a symbol, and the bar size of those that take one too (None: no bar size).
MARKET_COMMANDS: dict[str, str | None] = {"price": None, "volume": "15m", "oi": None, "cvd": "1h", "profile": None}
OTHER_COMMANDS = ("start", "help", "alerts", "status")
COMMANDS = (*MARKET_COMMANDS, *OTHER_COMMANDS)
MAX_SYMBOL_CHARS = 20  # the longest listed base asset is about 15; anything longer is a typo or junk
SHOWN_CHARS = 24  # how much of a bad argument an answer repeats


@dataclass(frozen=True)
class Command:
    name: str
    symbol: str | None = None
    interval: str | None = None


@dataclass(frozen=True)
class Invalid:
    """A command the bot understood enough to answer with how to write it (`answer` is plain text)."""

    name: str
    answer: str


def parse(text: str, bot_username: str | None = None) -> Command | Invalid | None:
    """None when the message is not a command for this bot: plain text, or `/cmd@OtherBot`."""
    words = text.split() if text else []
    head = words[0] if words else ""
    if not head.startswith("/") or len(head) < 2:
        return None
    name, _, addressed = head[1:].partition("@")
    if addressed and bot_username is not None and addressed.lower() != bot_username.lower():
        return None
    name = name.lower()
    if name not in COMMANDS:
        return Invalid(name, f"{shown('/' + name)} is not a command I know. /help lists them.")
    if name not in MARKET_COMMANDS:
        return Command(name)
    return _market_command(name, words[1:4])


def _market_command(name: str, args: list[str]) -> Command | Invalid:
    default_interval = MARKET_COMMANDS[name]
    symbol: str | None = None
    interval = default_interval
    for arg in args:
        if default_interval is not None and arg.lower() in INTERVALS:
            interval = arg.lower()
            continue
        if default_interval is not None and _looks_like_interval(arg):
            return Invalid(name, f"{shown(arg)} is not a bar size: use 15m, 1h, 4h or 1d, e.g. /{name} BTC 1h.")
        if symbol is not None:
            return Invalid(name, f"One symbol at a time, e.g. /{name} {symbol}.")
        symbol = parse_symbol(arg)
        if symbol is None:
            return Invalid(name, f"{shown(arg)} is not a symbol. {how_to_write(name)}")
    return Command(name, symbol or DEFAULT_SYMBOL, interval)


def parse_symbol(arg: str) -> str | None:
    """The base asset an argument names, or None when it names none."""
    text = arg.strip().removeprefix("$").upper().removesuffix(".P")
    if not text or len(text) > MAX_SYMBOL_CHARS + 10:
        return None
    if "/" in text:
        base, _, quote = text.partition("/")
        text = base if quote in QUOTES else text
    elif text.count("-") == 1:
        base, _, quote = text.partition("-")
        text = base if quote in QUOTES else text
    contract = normalise(text) if text.endswith(QUOTES) or "-" in text else None
    symbol = contract or normalise(text + QUOTES[0])  # `1000PEPE` -> PEPE, like a contract name
    if symbol is None or not is_valid_symbol(symbol) or len(symbol) > MAX_SYMBOL_CHARS:
        return None
    return symbol


def how_to_write(name: str) -> str:
    return f"Write the base asset, e.g. /{name} BTC (btc, BTCUSDT, BTC-USDT and $BTC work too)."


def shown(arg: str) -> str:
    """An argument as an answer repeats it: quoted, cut to a readable length."""
    text = arg if len(arg) <= SHOWN_CHARS else arg[: SHOWN_CHARS - 1] + "…"
    return f"“{text}”"


def _looks_like_interval(arg: str) -> bool:
    body, unit = arg[:-1], arg[-1:].lower()
    return body.isdigit() and unit in ("m", "h", "d", "w")
