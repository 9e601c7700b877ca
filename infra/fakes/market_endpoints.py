"""The market-data endpoints the commands read, on the fake exchanges, in each exchange's own wire
format: Binance's arrays and error codes, Bybit's `retCode` envelope and newest-first lists,
OKX's `code`/`data` envelope, string numbers, exclusive `after`/`begin`/`end` bounds. Paging and
limits are the exchanges' own (Binance klines at most 1,500, Bybit kline 1,000 and open interest
200 with a cursor, OKX candles 300 and statistics 100, only the newest 1,440 periods).

Figures come from `market_tape`: the real BTC recording scaled to what the snapshot endpoints
serve for each symbol, so `/price`, `/oi` and the OI pipeline see one market.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from infra.fakes.market_tape import SLOT_MS, Candle, Slot, Tape, merge

Answer = tuple[int, dict[str, str], bytes]

INTERVALS_MS = {"5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
BYBIT_INTERVALS = {"5": "5m", "15": "15m", "60": "1h", "240": "4h", "D": "1d"}
BYBIT_OI_PERIODS = {"5min": "5m", "15min": "15m", "30min": None, "1h": "1h", "4h": "4h", "1d": "1d"}
OKX_BARS = {"5m": "5m", "15m": "15m", "1H": "1h", "4H": "4h", "1Dutc": "1d"}
FUNDING_EVERY_MS = 8 * 3_600_000
# Funding on Bybit and OKX differs a little from Binance's recorded rate, as it does in reality.
FUNDING_FACTOR = {"binance": 1.0, "bybit": 0.85, "okx": 1.12}
OKX_NEWEST_PERIODS = 1440


@dataclass(frozen=True)
class Listing:
    """What the fake serves for a symbol on an exchange right now (set through `set_oi`)."""

    symbol: str
    oi: Decimal  # coins
    mark: Decimal  # USD per coin
    unit: int  # coins per contract unit (1000 for 1000PEPEUSDT)
    contract: str  # the exchange's name for it
    okx_size: Decimal  # OKX coins per contract


@dataclass(frozen=True)
class _Period:
    listing: Listing
    interval: int
    limit: int


Lookup = Callable[[str, str], Listing | None]  # (exchange, contract name) -> listing


class MarketEndpoints:
    def __init__(self, lookup: Lookup, anchor_ms: int | None = None, clock: Callable[[], float] = time.time) -> None:
        self._lookup = lookup
        self._clock = clock
        self.tape = Tape(anchor_ms if anchor_ms is not None else int(clock() * 1000))
        self._surges: dict[str, tuple[int, float]] = {}  # symbol -> (from ms, volume factor)
        # (exchange, symbol) -> period start -> (coins, USD per coin): a scripted open-interest history.
        self._histories: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
        # (exchange, symbol) -> [(since ms, coins)]: the levels the snapshot endpoints served, oldest first.
        self._levels: dict[tuple[str, str], list[tuple[int, float]]] = {}

    def surge_volume(self, symbol: str, factor: float, from_ms: int) -> None:
        """From `from_ms` on, `symbol` trades `factor` times its usual volume (scripted demos)."""
        self._surges[symbol] = (from_ms, factor)

    def set_open_interest_history(
        self, exchange: str, symbol: str, points: Iterable[tuple[int, float, float]] | None
    ) -> None:
        """Serve these (period start ms, coins, USD per coin) as `symbol`'s open-interest history on
        `exchange` instead of the tape's, and nothing for other periods (None: the tape again); its bars
        in those periods trade at those prices. The endpoints page it as they page the tape: the
        exchanges' own limits, bounds and horizons."""
        if points is None:
            self._histories.pop((exchange, symbol), None)
        else:
            self._histories[(exchange, symbol)] = {int(t): (float(c), float(p)) for t, c, p in points}

    def note_open_interest(self, exchange: str, symbol: str, coins: float) -> None:
        """The snapshot endpoints serve `coins` from now on (a scripted surge): the open interest of
        the tape steps there from now too, so a command's history sees what the pipeline stored."""
        steps = self._levels.setdefault((exchange, symbol), [])
        if not steps or steps[-1][1] != coins:
            steps.append((self.now_ms(), coins))

    def _level_at(self, exchange: str, listing: Listing, at_ms: int) -> float:
        """The open interest the snapshot endpoints served at `at_ms` (the first level before any)."""
        steps = list(self._levels.get((exchange, listing.symbol), ()))
        held = [coins for since, coins in steps if since <= at_ms]
        return held[-1] if held else steps[0][1] if steps else float(listing.oi)

    def _open_interest_at(self, exchange: str, listing: Listing, open_ms: int) -> tuple[float, float] | None:
        """(coins, USD per coin) at a period's start: the scripted history's, else the tape's."""
        scripted = self._histories.get((exchange, listing.symbol))
        if scripted is not None:
            return scripted.get(open_ms)
        slot = self._slot(exchange, listing, open_ms // SLOT_MS)
        return slot.oi, slot.open

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------ routing
    def answer(self, exchange: str, path: str, query: dict[str, str]) -> Answer | None:
        """The answer for a market-data path, None for a path this module does not serve."""
        routes: dict[tuple[str, str], Callable[[dict[str, str]], Answer]] = {
            ("binance", "/fapi/v1/ticker/24hr"): self._binance_ticker,
            ("binance", "/fapi/v1/fundingInfo"): self._binance_funding_info,
            ("binance", "/fapi/v1/klines"): self._binance_klines,
            ("binance", "/futures/data/openInterestHist"): self._binance_oi_history,
            ("bybit", "/v5/market/kline"): self._bybit_kline,
            ("bybit", "/v5/market/open-interest"): self._bybit_oi_history,
            ("okx", "/api/v5/market/ticker"): self._okx_ticker,
            ("okx", "/api/v5/public/mark-price"): self._okx_mark_price,
            ("okx", "/api/v5/public/funding-rate"): self._okx_funding_rate,
            ("okx", "/api/v5/market/candles"): self._okx_candles,
            ("okx", "/api/v5/rubik/stat/taker-volume-contract"): self._okx_taker_volume,
            ("okx", "/api/v5/rubik/stat/contracts/open-interest-history"): self._okx_oi_history,
        }
        route = routes.get((exchange, path))
        if route is None and exchange == "binance" and path == "/fapi/v1/premiumIndex" and "symbol" in query:
            route = self._binance_premium  # the bulk form stays the snapshot's
        if route is None and exchange == "bybit" and path == "/v5/market/tickers" and "symbol" in query:
            route = self._bybit_ticker  # the bulk form stays the snapshot's
        if route is None and exchange == "okx" and path == "/api/v5/public/open-interest" and "instId" in query:
            route = self._okx_open_interest
        return route(query) if route is not None else None

    # ------------------------------------------------------------------ the tape, per listing
    def _slot(self, exchange: str, listing: Listing, slot: int) -> Slot:
        now_slot = self.now_ms() // SLOT_MS
        surge = self._surges.get(listing.symbol)
        factor = surge[1] if surge is not None and slot * SLOT_MS >= surge[0] else 1.0
        served = self.tape.slot(slot, float(listing.mark), float(listing.oi), now_slot, exchange, factor)
        now_oi = float(listing.oi)
        then_oi = self._level_at(exchange, listing, min((slot + 1) * SLOT_MS, self.now_ms()))
        if then_oi != now_oi and now_oi > 0:
            served = replace(served, oi=served.oi * then_oi / now_oi)
        return self._scripted_prices(exchange, listing, served)

    def _scripted_prices(self, exchange: str, listing: Listing, found: Slot) -> Slot:
        """A bar of a scripted history trades at its prices: from the price at its start to the price
        at its end. (The tape scales its past to the present mark, so a closed bar of the tape moves
        every 5 minutes; a scripted history, like a real exchange's, stays what it was.)"""
        scripted = self._histories.get((exchange, listing.symbol))
        at = scripted.get(found.open_ms) if scripted is not None else None
        if scripted is None or at is None:
            return found
        opened, closed = at[1], scripted.get(found.open_ms + SLOT_MS, at)[1]
        return replace(found, open=opened, high=max(opened, closed), low=min(opened, closed), close=closed)

    def _candle(self, exchange: str, listing: Listing, open_ms: int, interval_ms: int) -> Candle:
        now = self.now_ms()
        first, stop = open_ms // SLOT_MS, min((open_ms + interval_ms) // SLOT_MS, now // SLOT_MS + 1)
        slots = [self._slot(exchange, listing, s) for s in range(first, stop)]
        fraction = (now % SLOT_MS) / SLOT_MS if stop == now // SLOT_MS + 1 else 1.0
        return merge(slots, open_ms, max(fraction, 0.01))

    def _opens(
        self, interval_ms: int, start: int | None, end: int | None, limit: int, newest_first: bool,
        from_start: bool = False,
    ) -> list[int]:  # fmt: skip
        """Open times of the bars an exchange returns for [start, end] (either may be absent), never
        after now: the newest `limit` of them, or the oldest from `start` where the exchange counts
        from the start (Binance does whenever a start is given)."""
        now_open = self.now_ms() // interval_ms * interval_ms
        last = min(now_open, end // interval_ms * interval_ms if end is not None else now_open)
        first = -(-start // interval_ms) * interval_ms if start is not None else None
        if first is not None and (from_start or end is None):
            opens = list(range(first, min(last, first + (limit - 1) * interval_ms) + 1, interval_ms))
        else:
            low = last - (limit - 1) * interval_ms
            opens = list(range(max(low, first) if first is not None else low, last + 1, interval_ms))
        return opens[::-1] if newest_first else opens

    def _funding(self, exchange: str) -> tuple[float, int]:
        now = self.now_ms()
        rate = self.tape.funding(now // SLOT_MS) * FUNDING_FACTOR[exchange]
        return rate, (now // FUNDING_EVERY_MS + 1) * FUNDING_EVERY_MS

    def _day(self, exchange: str, listing: Listing) -> tuple[float, float, float, float, float]:
        """Open, high, low, volume (coins) and turnover (USD) of the rolling last 24 h."""
        now_slot = self.now_ms() // SLOT_MS
        slots = [self._slot(exchange, listing, s) for s in range(now_slot - 287, now_slot + 1)]
        return (slots[0].open, max(s.high for s in slots), min(s.low for s in slots),
                sum(s.volume for s in slots), sum(s.quote_volume for s in slots))  # fmt: skip

    # ------------------------------------------------------------------ Binance
    def _binance_listing(self, query: dict[str, str]) -> Listing | Answer:
        listing = self._lookup("binance", query.get("symbol", ""))
        return listing if listing is not None else _json(400, {"code": -1121, "msg": "Invalid symbol."})

    def _binance_ticker(self, query: dict[str, str]) -> Answer:
        listing = self._binance_listing(query)
        if not isinstance(listing, Listing):
            return listing
        o, h, lo, volume, turnover = self._day("binance", listing)
        u = listing.unit
        last = self._slot("binance", listing, self.now_ms() // SLOT_MS).close
        now = self.now_ms()
        return _json(200, {
            "symbol": listing.contract, "priceChange": _px((last - o) * u),
            "priceChangePercent": f"{(last / o - 1) * 100:.3f}", "weightedAvgPrice": _px(turnover / volume * u),
            "lastPrice": _px(last * u), "lastQty": "0.010", "openPrice": _px(o * u), "highPrice": _px(h * u),
            "lowPrice": _px(lo * u), "volume": _qty(volume / u), "quoteVolume": f"{turnover:.2f}",
            "openTime": now - 86_400_000, "closeTime": now, "firstId": 6_100_000_000, "lastId": 6_103_000_000,
            "count": 3_000_000,
        })  # fmt: skip

    def _binance_premium(self, query: dict[str, str]) -> Answer:
        listing = self._binance_listing(query)
        if not isinstance(listing, Listing):
            return listing
        rate, next_funding = self._funding("binance")
        mark = _px(float(listing.mark) * listing.unit)
        return _json(200, {"symbol": listing.contract, "markPrice": mark, "indexPrice": mark,
                           "estimatedSettlePrice": mark, "lastFundingRate": f"{rate:.8f}", "interestRate": "0.00010000",
                           "nextFundingTime": next_funding, "time": self.now_ms()})  # fmt: skip

    def _binance_funding_info(self, query: dict[str, str]) -> Answer:
        # Only contracts whose cap, floor or interval Binance adjusted are listed.
        return _json(200, [{"symbol": "1000PEPEUSDT", "adjustedFundingRateCap": "0.02000000",
                            "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": 4,
                            "disclaimer": False}])  # fmt: skip

    def _binance_klines(self, query: dict[str, str]) -> Answer:
        listing = self._binance_listing(query)
        if not isinstance(listing, Listing):
            return listing
        interval = INTERVALS_MS.get(query.get("interval", ""))
        if interval is None:
            return _json(400, {"code": -1120, "msg": "Invalid interval."})
        limit = _limit(query, default=500, most=1500)
        if limit is None:
            return _json(400, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."})
        u = listing.unit
        rows = []
        for open_ms in self._opens(interval, _ms(query, "startTime"), _ms(query, "endTime"), limit, False, True):
            c = self._candle("binance", listing, open_ms, interval)
            rows.append([open_ms, _px(c.open * u), _px(c.high * u), _px(c.low * u), _px(c.close * u),
                         _qty(c.volume / u), open_ms + interval - 1, f"{c.quote_volume:.4f}",
                         max(1, int(c.volume * 40)), _qty(c.taker_buy / u),
                         f"{c.quote_volume * c.taker_buy / c.volume:.4f}" if c.volume else "0", "0"])  # fmt: skip
        return _json(200, rows)

    def _binance_oi_history(self, query: dict[str, str]) -> Answer:
        listing = self._binance_listing(query)
        if not isinstance(listing, Listing):
            return listing
        period = INTERVALS_MS.get(query.get("period", ""))
        limit = _limit(query, default=30, most=500)
        if period is None or limit is None:
            return _json(400, {"code": -1130, "msg": "Data sent for parameter 'period' or 'limit' is not valid."})
        month_ago = self.now_ms() - 30 * 86_400_000  # Binance keeps the last 30 days and refuses older
        start = _ms(query, "startTime")
        if start is not None and start < month_ago:
            return _json(400, {"code": -1130, "msg": "Data sent for parameter 'startTime' is not valid."})
        start = start if start is not None else month_ago
        u = listing.unit
        points = []
        for t in self._opens(period, start, _ms(query, "endTime"), limit, False, True):
            found = self._open_interest_at("binance", listing, t)
            if found is None:
                continue
            coins, price = found
            points.append({"symbol": listing.contract, "sumOpenInterest": _qty(coins / u),
                           "sumOpenInterestValue": f"{coins * price:.8f}", "CMCCirculatingSupply": "19890000",
                           "timestamp": t})  # fmt: skip
        return _json(200, points)

    # ------------------------------------------------------------------ Bybit
    def _bybit_listing(self, query: dict[str, str]) -> Listing | Answer:
        if query.get("category", "linear") != "linear":
            return _bybit(10001, "Illegal category", {})
        listing = self._lookup("bybit", query.get("symbol", ""))
        return listing if listing is not None else _bybit(10001, "Not supported symbols", {})

    def _bybit_ticker(self, query: dict[str, str]) -> Answer:
        listing = self._bybit_listing(query)
        if not isinstance(listing, Listing):
            return listing
        o, h, lo, volume, turnover = self._day("bybit", listing)
        u = listing.unit
        now_slot = self.now_ms() // SLOT_MS
        last = self._slot("bybit", listing, now_slot).close
        hour_ago = self._slot("bybit", listing, now_slot - 12).open
        rate, next_funding = self._funding("bybit")
        mark = float(listing.mark)
        oi = float(listing.oi) / u
        return _bybit(0, "OK", {"category": "linear", "list": [{
            "symbol": listing.contract, "lastPrice": _px(last * u), "indexPrice": _px(mark * u),
            "markPrice": _px(mark * u), "prevPrice24h": _px(o * u), "price24hPcnt": f"{last / o - 1:.6f}",
            "highPrice24h": _px(h * u), "lowPrice24h": _px(lo * u), "prevPrice1h": _px(hour_ago * u),
            # Both sides since 2026-06-11, and one side in the `single` fields.
            "openInterest": _qty(2 * oi), "openInterestValue": f"{2 * oi * mark * u:.2f}",
            "singleOpenInterest": _qty(oi), "singleOpenInterestValue": f"{oi * mark * u:.2f}",
            "turnover24h": f"{turnover:.4f}", "volume24h": _qty(volume / u), "fundingRate": f"{rate:.8f}",
            "nextFundingTime": str(next_funding), "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "ask1Size": "3.214", "bid1Price": _px(last * u), "ask1Price": _px(last * u * 1.00001),
            "bid1Size": "2.901", "basis": "", "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
            "fundingIntervalHour": "8", "basisRateYear": "", "fundingCap": "0.005",
        }]})  # fmt: skip

    def _bybit_kline(self, query: dict[str, str]) -> Answer:
        listing = self._bybit_listing(query)
        if not isinstance(listing, Listing):
            return listing
        name = BYBIT_INTERVALS.get(query.get("interval", ""))
        limit = _limit(query, default=200, most=1000)
        if name is None or limit is None:
            return _bybit(10001, "params error: interval or limit invalid", {})
        interval, u = INTERVALS_MS[name], listing.unit
        rows = []
        for open_ms in self._opens(interval, _ms(query, "start"), _ms(query, "end"), limit, True):
            c = self._candle("bybit", listing, open_ms, interval)
            rows.append([str(open_ms), _px(c.open * u), _px(c.high * u), _px(c.low * u), _px(c.close * u),
                         _qty(c.volume / u), f"{c.quote_volume:.4f}"])  # fmt: skip
        return _bybit(0, "OK", {"symbol": listing.contract, "category": "linear", "list": rows})

    def _bybit_oi_history(self, query: dict[str, str]) -> Answer:
        listing = self._bybit_listing(query)
        if not isinstance(listing, Listing):
            return listing
        name = BYBIT_OI_PERIODS.get(query.get("intervalTime", ""))
        limit = _limit(query, default=50, most=200)
        if name is None or limit is None:
            return _bybit(10001, "params error: intervalTime or limit invalid", {})
        period = INTERVALS_MS[name]
        end = _ms(query, "endTime")
        if query.get("cursor"):  # the cursor carries where the previous page stopped
            end = int(base64.urlsafe_b64decode(query["cursor"]).decode()) - 1
        start = _ms(query, "startTime")
        opens = self._opens(period, start, end, limit + 1, True)
        more = len(opens) > limit and (start is None or opens[limit] >= start)
        page = opens[:limit]
        u = listing.unit
        entries = []
        for t in page:
            found = self._open_interest_at("bybit", listing, t)
            if found is None:
                continue
            coins = found[0] / u
            entries.append({"openInterest": _qty(2 * coins), "singleOpenInterest": _qty(coins), "timestamp": str(t)})
        cursor = base64.urlsafe_b64encode(str(page[-1]).encode()).decode() if more and page else ""
        return _bybit(0, "OK", {"symbol": listing.contract, "category": "linear", "list": entries,
                                "nextPageCursor": cursor})  # fmt: skip

    # ------------------------------------------------------------------ OKX
    def _okx_listing(self, query: dict[str, str]) -> Listing | Answer:
        listing = self._lookup("okx", query.get("instId", ""))
        if listing is None:
            return _json(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        return listing

    def _okx_ticker(self, query: dict[str, str]) -> Answer:
        listing = self._okx_listing(query)
        if not isinstance(listing, Listing):
            return listing
        o, h, lo, volume, _ = self._day("okx", listing)
        now = self.now_ms()
        last = self._slot("okx", listing, now // SLOT_MS).close
        today = self._candle("okx", listing, now // 86_400_000 * 86_400_000, 86_400_000)
        return _okx([{
            "instType": "SWAP", "instId": listing.contract, "last": _px(last), "lastSz": "1",
            "askPx": _px(last * 1.00001), "askSz": "312", "bidPx": _px(last), "bidSz": "201", "open24h": _px(o),
            "high24h": _px(h), "low24h": _px(lo), "volCcy24h": _qty(volume),
            "vol24h": _qty(volume / float(listing.okx_size)),
            "ts": str(now), "sodUtc0": _px(today.open), "sodUtc8": _px(o),
        }])  # fmt: skip

    def _okx_mark_price(self, query: dict[str, str]) -> Answer:
        listing = self._okx_listing(query)
        if not isinstance(listing, Listing):
            return listing
        return _okx([{"instType": "SWAP", "instId": listing.contract, "markPx": _px(float(listing.mark)),
                      "ts": str(self.now_ms())}])  # fmt: skip

    def _okx_funding_rate(self, query: dict[str, str]) -> Answer:
        listing = self._okx_listing(query)
        if not isinstance(listing, Listing):
            return listing
        rate, settle = self._funding("okx")
        return _okx([{
            "formulaType": "withRate", "fundingRate": f"{rate:.18f}".rstrip("0"), "fundingTime": str(settle),
            "impactValue": "20000", "instId": listing.contract, "instType": "SWAP", "interestRate": "0.0001",
            "maxFundingRate": "0.00375", "method": "current_period", "minFundingRate": "-0.00375",
            "nextFundingRate": "", "nextFundingTime": str(settle + FUNDING_EVERY_MS), "premium": "0.0000712",
            "settFundingRate": f"{rate:.18f}".rstrip("0"), "settState": "settled", "ts": str(self.now_ms()),
        }])  # fmt: skip

    def _okx_open_interest(self, query: dict[str, str]) -> Answer:
        if query.get("instType") != "SWAP":
            return _json(200, {"code": "51000", "msg": "Parameter instType error", "data": []})
        listing = self._okx_listing(query)
        if not isinstance(listing, Listing):
            return listing
        coins = listing.oi
        return _okx([{"instType": "SWAP", "instId": listing.contract, "oi": _qty(float(coins / listing.okx_size)),
                      "oiCcy": _qty(float(coins)), "oiUsd": f"{float(coins * listing.mark):.4f}",
                      "ts": str(self.now_ms())}])  # fmt: skip

    def _okx_period(self, query: dict[str, str], key: str, most: int) -> _Period | Answer:
        listing = self._okx_listing(query)
        if not isinstance(listing, Listing):
            return listing
        name = OKX_BARS.get(query.get(key, "5m" if key == "period" else "1m"))
        limit = _limit(query, default=100, most=most)
        if name is None or limit is None:
            return _json(200, {"code": "51000", "msg": f"Parameter {key} error", "data": []})
        return _Period(listing, INTERVALS_MS[name], limit)

    def _okx_window(self, interval: int, limit: int, older_than: int | None, newer_than: int | None) -> list[int]:
        """Open times with `newer_than < t < older_than` (OKX's bounds are exclusive), newest first,
        and only among the newest 1,440 periods, as OKX serves them."""
        end = older_than - 1 if older_than is not None else None
        start = newer_than + 1 if newer_than is not None else None
        oldest = self.now_ms() // interval * interval - (OKX_NEWEST_PERIODS - 1) * interval
        return [t for t in self._opens(interval, start, end, limit, True) if t >= oldest]

    def _okx_candles(self, query: dict[str, str]) -> Answer:
        found = self._okx_period(query, "bar", most=300)
        if not isinstance(found, _Period):
            return found
        listing, interval, limit = found.listing, found.interval, found.limit
        now = self.now_ms()
        rows = []
        for t in self._okx_window(interval, limit, _ms(query, "after"), _ms(query, "before")):
            c = self._candle("okx", listing, t, interval)
            rows.append([str(t), _px(c.open), _px(c.high), _px(c.low), _px(c.close),
                         _qty(c.volume / float(listing.okx_size)), _qty(c.volume), f"{c.quote_volume:.4f}",
                         "1" if t + interval <= now else "0"])  # fmt: skip
        return _okx(rows)

    def _okx_taker_volume(self, query: dict[str, str]) -> Answer:
        found = self._okx_period(query, "period", most=100)
        if not isinstance(found, _Period):
            return found
        listing, interval, limit = found.listing, found.interval, found.limit
        unit = query.get("unit", "1")
        rows = []
        for t in self._okx_window(interval, limit, _ms(query, "end"), _ms(query, "begin")):
            c = self._candle("okx", listing, t, interval)
            buy, sell = c.taker_buy, c.volume - c.taker_buy
            per = {"0": 1.0, "1": 1 / float(listing.okx_size), "2": c.quote_volume / c.volume if c.volume else 0.0}
            rows.append([str(t), _qty(sell * per.get(unit, 1.0)), _qty(buy * per.get(unit, 1.0))])
        return _okx(rows)

    def _okx_oi_history(self, query: dict[str, str]) -> Answer:
        found = self._okx_period(query, "period", most=100)
        if not isinstance(found, _Period):
            return found
        listing, interval, limit = found.listing, found.interval, found.limit
        rows = []
        for t in self._okx_window(interval, limit, _ms(query, "end"), _ms(query, "begin")):
            point = self._open_interest_at("okx", listing, t)
            if point is None:
                continue
            coins, price = point
            rows.append([str(t), _qty(coins / float(listing.okx_size)), _qty(coins), f"{coins * price:.4f}"])
        return _okx(rows)


# ---------------------------------------------------------------------- wire helpers
def _json(status: int, obj: Any) -> Answer:
    return int(status), {"Content-Type": "application/json"}, json.dumps(obj).encode()


def _bybit(code: int, message: str, result: Any) -> Answer:
    body = {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": int(time.time() * 1000)}
    return _json(HTTPStatus.OK, body)


def _okx(data: list[Any]) -> Answer:
    return _json(HTTPStatus.OK, {"code": "0", "msg": "", "data": data})


def _px(value: float) -> str:
    """A price as exchanges print it: fixed decimals, more for a small price, never an exponent."""
    size = abs(value)
    decimals = 2 if size >= 1000 else 4 if size >= 1 else min(10, 4 - math.floor(math.log10(size))) if size else 2
    return f"{value:.{decimals}f}"


def _qty(value: float) -> str:
    return f"{value:.3f}" if abs(value) >= 1 else f"{value:.8f}"


def _ms(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def _limit(query: dict[str, str], default: int, most: int) -> int | None:
    raw = query.get("limit")
    if raw is None:
        return default
    value = int(raw) if raw.isdigit() else 0
    return value if 1 <= value <= most else None
