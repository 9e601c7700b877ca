"""`/start`, `/help`, and the short answers: an unknown symbol, a malformed command, a refusal,
a failure on our side. Never a traceback, a URL or a token: only what the reader can act on."""

from __future__ import annotations

from typing import Any

from commands.replies.text import escape, exchange_name, finish, unavailable
from cryptoalerts.exchanges.market import PerExchange

HELP = """\
<b>crypto-alerts</b>: market facts from the Binance, Bybit and OKX USDT perpetuals, every exchange \
asked at once. Alerts (liquidation cascades, open-interest explosions) arrive in the alert chat by themselves.

/price BTC: last and mark price, 24h change and volume, funding (and per year), open interest, spread
/volume BTC 1h: last closed bar against the same time on the past 7 days, taker buy share (15m 1h 4h 1d; 15m if none)
/oi BTC: open interest per exchange, change over 15m 1h 4h 24h, distance to the OI alert
/cvd ETH 4h: cumulative volume delta from real taker flow, divergence with price (15m 1h 4h 1d; 1h if none)
/profile SOL: volume profile of today and yesterday: POC, value area, VWAP
/alerts: the newest alerts and what became of them
/status: is the pipeline running

Symbols: BTC, btc, BTCUSDT, BTC-USDT or $BTC all work; no symbol means BTC."""

# The command menu (setMyCommands): command -> description, at most 256 characters each.
MENU = {
    "price": "Price, funding, open interest on Binance, Bybit, OKX",
    "volume": "Relative volume and taker buys: /volume BTC 15m",
    "oi": "Open interest and its change; distance to the alert",
    "cvd": "Cumulative volume delta from taker flow: /cvd BTC 1h",
    "profile": "Volume profile of today and yesterday",
    "alerts": "The newest alerts",
    "status": "Pipeline health",
    "help": "What each command shows",
}


def start() -> str:
    return "👋 " + HELP


def help_text() -> str:
    return HELP


def unknown_symbol(command: str, symbol: str, data: PerExchange[Any], exchanges: tuple[str, ...]) -> str:
    """Every exchange answered and none lists the symbol (those that did not answer are named)."""
    lines = [
        f"No USDT perpetual for {escape(symbol)} on {_names(exchanges)}.",
        f"Write the base asset as the exchanges list it, e.g. /{command} BTC, /{command} ETH or /{command} PEPE.",
    ]
    lines += [unavailable(n, data.failures[n]) for n in exchanges if data.failures.get(n) not in (None, "not listed")]
    return finish(lines)


def refusal(chat_id: int) -> str:
    return (
        "This bot answers only the chats its operator allowed. "
        f"This chat's id is <code>{chat_id}</code>: ask the operator to add it to commands.allowed_chat_ids."
    )


def failed(command: str, reference: str) -> str:
    return f"Sorry, /{escape(command)} failed on my side. The operator finds it in the logs as {escape(reference)}."


def _names(exchanges: tuple[str, ...]) -> str:
    names = [exchange_name(n) for n in exchanges]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
