"""`/price SYM`: per exchange the last and mark price, 24 h change and volume, funding (and what it
comes to in a year) with the time to the next payment, open interest; then the spread between them."""

from __future__ import annotations

from commands.replies.text import (
    NOTHING,
    bold,
    clock,
    coins,
    duration,
    escape,
    exchange_name,
    finish,
    price,
    signed_pct,
    unavailable,
)
from cryptoalerts import funding
from cryptoalerts.exchanges.market import PerExchange, Quote
from cryptoalerts.spread import spread
from cryptoalerts.telegram_format import usd


def reply(symbol: str, quotes: PerExchange[Quote], exchanges: tuple[str, ...], now_ms: int) -> str:
    as_of = max((q.time_ms for q in quotes.results.values()), default=0) or now_ms
    lines = [bold(f"💵 {escape(symbol)} perpetuals (USDT)") + f" · {clock(as_of, seconds=True)}"]
    for name in exchanges:
        q = quotes.results.get(name)
        lines.append("")
        if q is None:
            lines.append(unavailable(name, quotes.failures.get(name, "no answer")))
            continue
        lines += _exchange_lines(symbol, q, now_ms)
    gap = spread({name: q.last for name, q in quotes.results.items()})
    if gap is not None:
        lines += [
            "",
            f"↔️ Spread {gap.bps:.1f} bp: {exchange_name(gap.highest)} highest, {exchange_name(gap.lowest)} lowest",
        ]
    return finish(lines)


def _exchange_lines(symbol: str, q: Quote, now_ms: int) -> list[str]:
    volume = NOTHING if q.volume_24h_usd is None else usd(q.volume_24h_usd)
    if q.volume_24h_coins is not None:
        volume += f" ({coins(q.volume_24h_coins, symbol)})"
    lines = [
        f"{bold(exchange_name(q.exchange))} {price(q.last)} · mark {price(q.mark)}",
        f"24h {signed_pct(q.change_24h_pct)} · volume {volume}",
        f"Funding {_funding(q, now_ms)}",
    ]
    if q.oi_coins is not None:
        value = f" ({usd(q.oi_usd)})" if q.oi_usd is not None else ""
        lines.append(f"Open interest {coins(q.oi_coins, symbol)}{value}")
    return lines


def _funding(q: Quote, now_ms: int) -> str:
    if q.funding_rate is None:
        return NOTHING
    text = f"{q.funding_rate * 100:+.4f}%"
    if q.funding_interval_h:
        hours = f"{q.funding_interval_h:g}"
        text += f" per {hours}h ({funding.annualised_pct(q.funding_rate, q.funding_interval_h):+.1f}% a year)"
    if q.next_funding_ms:
        text += f" · next in {duration(funding.time_to_next_ms(q.next_funding_ms, now_ms))}"
    return text
