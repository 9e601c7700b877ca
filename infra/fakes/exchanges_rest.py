"""A local stand-in for the Binance, Bybit and OKX REST endpoints the OI snapshot and the listener read.

It speaks each exchange's wire format (field names, numbers as strings, envelopes, extra contracts
that must be ignored), adds latency to every request and injects faults per exchange: a timeout,
HTTP 500, 429 or 418 with Retry-After, malformed JSON, an empty list, a symbol missing.
One server answers all three (their paths differ), so one base URL serves as all three env vars.

The served open interest is settable while it runs, for tests and scripted demos:
`FakeExchanges.set_oi(...)` in process, or `POST /_control/oi` with
`{"exchange": "binance", "symbol": "BTC", "oi": 80000, "mark_price": 65000}` from outside.
`POST /_control/fault` takes `{"exchange", "kind", "symbol"?, "retry_after_s"?, "path"?, "after"?}`
(with `path` and `after`, only that path fails, after its first `after` requests: a failure midway
through paging a history),
`POST /_control/clear` drops every fault, `GET /_control/stats` answers the request counts,
`POST /_control/reset-counts` zeroes them.

The listener's instrument lists: Bybit's `/v5/market/instruments-info?category=linear` (paged by
`limit` and `cursor`, with USDC and dated contracts it must ignore) and OKX's
`/api/v5/public/instruments?instType=SWAP[&instId=]` (contract sizes; an inverse swap it must ignore).
`set_bybit_linear([...])` / `set_okx_swaps({instId: ctVal})`, or `POST /_control/instruments` with
`{"exchange": "bybit", "symbols": [...]}` or `{"exchange": "okx", "sizes": {...}}`, change them.

Run it alone: `python -m infra.fakes.exchanges_rest --port 8090 --latency-ms 50`, or from Python
as a child process with `FakeExchangesProcess` (so its threads do not share the caller's GIL).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptoalerts import config
from cryptoalerts.exchanges import binance, bybit, market, okx
from infra.fakes.market_endpoints import Listing, MarketEndpoints
from infra.processes import terminate

EXCHANGES = ("binance", "bybit", "okx")
FAULT_KINDS = ("timeout", "500", "429", "418", "malformed", "empty", "missing")
# Contracts quoted in units of 1000 coins on Binance and Bybit, as the real ones are.
UNITS = {"PEPE": 1000, "SHIB": 1000, "BONK": 1000, "FLOKI": 1000}
# OKX contract sizes (ctVal, coins per contract); `oi` is in contracts, `oiCcy` in coins.
OKX_CONTRACT_SIZE = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1"), "SOL": Decimal("1"), "PEPE": Decimal("10000000")}
# Plausible figures so a fresh fake answers like a calm market (coins, USD per coin).
CALM_MARKET = {"BTC": (Decimal(80_000), Decimal(65_000)), "ETH": (Decimal(1_500_000), Decimal(3_200)),
               "SOL": (Decimal(9_000_000), Decimal(150))}  # fmt: skip
TS = 1_780_807_200_000  # a fixed exchange timestamp: the adapters do not use it
# Bybit lists 500 instruments a page unless `limit` (at most 1000) says otherwise.
BYBIT_PAGE_DEFAULT, BYBIT_PAGE_MAX = 500, 1000


@dataclass
class Fault:
    kind: str
    symbol: str | None = None  # only this symbol (missing entry / its per-symbol request)
    retry_after_s: int = 60
    path: str | None = None  # only requests to this path (e.g. a history endpoint)
    after: int = 0  # the first `after` requests (to `path`) are answered: a failure midway through paging


@dataclass
class Market:
    oi: Decimal  # coins
    mark_price: Decimal  # USD per coin


class FakeExchanges:
    def __init__(
        self,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_s: float = 30.0,
        enforce_rate_limits: bool = False,
    ) -> None:
        self.latency_s = latency_s
        self.hang_s = hang_s  # how long a "timeout" fault holds the request
        # Refuse history requests beyond the exchanges' rate limits, as they do (off by default: the
        # benchmarks measure the pipeline, not the exchanges' patience).
        self.enforce_rate_limits = enforce_rate_limits
        self.rate_limited: Counter[str] = Counter()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._markets: dict[tuple[str, str], Market] = {}
        self._faults: dict[str, Fault] = {}
        self.bybit_linear: list[str] = sorted(_contract(symbol) for symbol in CALM_MARKET)
        self.okx_swaps: dict[str, Decimal] = {f"{s}-USDT-SWAP": size for s, size in OKX_CONTRACT_SIZE.items()}
        self.requests: Counter[str] = Counter()
        self.path_requests: Counter[tuple[str, str]] = Counter()  # (exchange, path), since the last fault was set
        self._stopping = threading.Event()
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None
        # Tickers, bars, funding, taker volume and open-interest history for the commands.
        self.market = MarketEndpoints(self._listing)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """Environment that points the OI snapshot at this fake for all three exchanges."""
        names = (config.BINANCE_FUTURES_REST_URL, config.BYBIT_REST_URL, config.OKX_REST_URL)
        return dict.fromkeys(names, self.url)

    def start(self) -> FakeExchanges:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-exchanges", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases requests held by a timeout fault or latency
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeExchanges:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def set_oi(self, exchange: str, symbol: str, oi: float | Decimal | str, mark_price: float | Decimal | str) -> None:
        """Serve `oi` coins of `symbol` at `mark_price` on `exchange` ("*" for all three)."""
        names = EXCHANGES if exchange == "*" else (exchange,)
        with self._lock:
            for name in names:
                _check_exchange(name)
                self._markets[(name, symbol)] = Market(Decimal(str(oi)), Decimal(str(mark_price)))
                self.market.note_open_interest(name, symbol, float(oi))

    def seed_calm_market(self, symbols: dict[str, tuple[Decimal, Decimal]] | None = None) -> None:
        for symbol, (oi, mark) in (symbols or CALM_MARKET).items():
            self.set_oi("*", symbol, oi, mark)

    def set_fault(
        self,
        exchange: str,
        kind: str,
        *,
        symbol: str | None = None,
        retry_after_s: int = 60,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        _check_exchange(exchange)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (one of {', '.join(FAULT_KINDS)})")
        with self._lock:
            self._faults[exchange] = Fault(kind, symbol, retry_after_s, path, after)
            self.path_requests.clear()

    def set_bybit_linear(self, contracts: list[str]) -> None:
        """The linear USDT perpetuals Bybit lists (`BTCUSDT`, `1000PEPEUSDT`)."""
        with self._lock:
            self.bybit_linear = sorted(set(contracts))

    def set_okx_swaps(self, sizes: dict[str, Decimal | float | str]) -> None:
        """OKX's linear swaps and their contract sizes (`ctVal`, coins per contract)."""
        with self._lock:
            self.okx_swaps = {inst_id: Decimal(str(size)) for inst_id, size in sizes.items()}

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ serving
    def _markets_of(self, exchange: str, fault: Fault | None) -> list[tuple[str, Market]]:
        with self._lock:
            rows = [(s, m) for (e, s), m in sorted(self._markets.items()) if e == exchange]
        if fault is not None and fault.kind == "missing":
            rows = [(s, m) for s, m in rows if s != fault.symbol]
        if fault is not None and fault.kind == "empty":
            rows = []
        return rows

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/_control/"):
            return self._control(method, parts.path, body)
        exchange = _exchange_of(parts.path)
        if exchange is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": f"no such path {parts.path}"})
        with self._lock:
            self.requests[exchange] += 1
            self.path_requests[(exchange, parts.path)] += 1
            seen = self.path_requests[(exchange, parts.path)]
            fault = self._faults.get(exchange)
        if self.enforce_rate_limits and self._over_limit(exchange, parts.path, query):
            return _rate_limit_answer(exchange)
        if self.latency_s:
            self._stopping.wait(self.latency_s)
        if fault is not None and _applies(fault, exchange, parts.path, query, seen):
            failed = self._fail(fault)
            if failed is not None:
                return failed
        served = self.market.answer(exchange, parts.path, query)
        if served is not None:
            return served
        if exchange == "binance":
            return self._binance(parts.path, query, fault)
        if exchange == "bybit":
            if parts.path == "/v5/market/instruments-info":
                return self._bybit_instruments(query)
            return self._bybit(query, fault)
        if parts.path == "/api/v5/public/instruments":
            return self._okx_instruments(query)
        return self._okx(query, fault)

    def _over_limit(self, exchange: str, path: str, query: dict[str, str]) -> bool:
        """Count the request against its limit (the exchange module's documented figure) and say
        whether it exceeds it: more than `requests` within the last `per_s` seconds."""
        limit = HISTORY_LIMITS.get((exchange, path))
        if limit is None:
            return False
        instrument = query.get("instId", "") if limit.per_instrument else ""
        now = time.monotonic()
        with self._lock:
            starts = self._windows.setdefault((f"{exchange}:{limit.name}", instrument), deque())
            while starts and starts[0] <= now - limit.per_s:
                starts.popleft()
            starts.append(now)
            if len(starts) <= limit.requests:
                return False
            self.rate_limited[exchange] += 1
            return True

    def _fail(self, fault: Fault) -> tuple[int, dict[str, str], bytes] | None:
        if fault.kind == "timeout":
            self._stopping.wait(self.hang_s)
            return _json(HTTPStatus.GATEWAY_TIMEOUT, {"error": "held too long"})
        if fault.kind == "500":
            return 500, {"Content-Type": "text/html"}, b"<html><body>Internal Server Error</body></html>"
        if fault.kind in ("429", "418"):
            status, headers, body = _json(int(fault.kind), {"code": -1003, "msg": "Too many requests; IP banned."})
            headers["Retry-After"] = str(fault.retry_after_s)
            return status, headers, body
        if fault.kind == "malformed":
            return 200, {"Content-Type": "application/json"}, b'{"retCode":0,"result":{"list":[{"symbol":"BTCUSDT",'
        return None  # "empty" and "missing" shape the normal answer

    def _listing(self, exchange: str, contract: str) -> Listing | None:
        """The symbol `contract` names on `exchange`, as served now (a "missing" fault hides it)."""
        with self._lock:
            fault = self._faults.get(exchange)
        for symbol, m in self._markets_of(exchange, fault):
            name = f"{symbol}-USDT-SWAP" if exchange == "okx" else _contract(symbol)
            if name == contract:
                size = OKX_CONTRACT_SIZE.get(symbol, Decimal(1))
                return Listing(symbol, m.oi, m.mark_price, 1 if exchange == "okx" else UNITS.get(symbol, 1), name, size)
        return None

    def _binance(self, path: str, query: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        rows = self._markets_of("binance", fault)
        if path == "/fapi/v1/premiumIndex":
            entries = [_premium(_contract(s), m.mark_price * UNITS.get(s, 1)) for s, m in rows]
            entries.append(_premium("BTCUSDT_260626", Decimal("66000.1")))  # a dated future: not the perpetual
            entries.append(_premium("ETHUSDC", Decimal("3200.5")))
            if "symbol" in query:
                match = [e for e in entries if e["symbol"] == query["symbol"]]
                return _json(200, match[0]) if match else _binance_invalid_symbol()
            return _json(200, entries)
        if path == "/fapi/v1/openInterest":
            for symbol, m in rows:
                if _contract(symbol) == query.get("symbol"):
                    oi = m.oi / UNITS.get(symbol, 1)
                    return _json(200, {"openInterest": _num(oi), "symbol": _contract(symbol), "time": TS})
            return _binance_invalid_symbol()
        return _json(HTTPStatus.NOT_FOUND, {"code": -5000, "msg": "Path not found"})

    def _bybit(self, query: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        if query.get("category") != "linear":
            return _json(200, {"retCode": 10001, "retMsg": "Illegal category", "result": {}, "time": TS})
        entries = []
        for symbol, m in self._markets_of("bybit", fault):
            unit = UNITS.get(symbol, 1)
            entries.append(_bybit_ticker(_contract(symbol), m.oi / unit, m.mark_price * unit))
        entries.append(_bybit_ticker("BTCPERP", Decimal("1200.5"), Decimal("65010")))  # USDC perpetual
        entries.append(_bybit_ticker("BTCUSDT-26JUN26", Decimal("300"), Decimal("66000")))  # dated
        body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": entries},
                "retExtInfo": {}, "time": TS}  # fmt: skip
        return _json(200, body)

    def _okx(self, query: dict[str, str], fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        if query.get("instType") != "SWAP":
            return _json(200, {"code": "51000", "msg": "Parameter instType error", "data": []})
        entries = []
        for symbol, m in self._markets_of("okx", fault):
            size = OKX_CONTRACT_SIZE.get(symbol, Decimal(1))
            entries.append(_okx_oi(f"{symbol}-USDT-SWAP", m.oi, m.mark_price, size))
        entries.append(_okx_oi("BTC-USD-SWAP", Decimal("5000"), Decimal("65000"), Decimal("0.0015")))  # coin-margined
        return _json(200, {"code": "0", "msg": "", "data": entries})

    def _bybit_instruments(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("category") != "linear":
            return _json(200, {"retCode": 10001, "retMsg": "Illegal category", "result": {}, "time": TS})
        with self._lock:
            listed = [_bybit_instrument(c, "LinearPerpetual", "USDT") for c in self.bybit_linear]
        # What a linear listing also holds and the listener must ignore: USDC perpetuals, dated futures.
        listed += [_bybit_instrument("BTCPERP", "LinearPerpetual", "USDC"),
                   _bybit_instrument("BTCUSDT-26JUN26", "LinearFutures", "USDT")]  # fmt: skip
        try:
            limit = min(int(query.get("limit", BYBIT_PAGE_DEFAULT)), BYBIT_PAGE_MAX)
            start = int(query["cursor"].removeprefix("next%3D")) if query.get("cursor") else 0
        except ValueError:
            return _json(200, {"retCode": 10001, "retMsg": "params error", "result": {}, "time": TS})
        page = listed[start : start + limit]
        # Bybit's cursors arrive URL-encoded (`first%3DBIOUSDT...`) and go back as received.
        cursor = f"next%3D{start + limit}" if start + limit < len(listed) else ""
        body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": page, "nextPageCursor": cursor},
                "retExtInfo": {}, "time": TS}  # fmt: skip
        return _json(200, body)

    def _okx_instruments(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("instType") != "SWAP":
            return _json(200, {"code": "51000", "msg": "Parameter instType error", "data": []})
        with self._lock:
            swaps = [_okx_instrument(i, size, "linear") for i, size in sorted(self.okx_swaps.items())]
        swaps.append(_okx_instrument("BTC-USD-SWAP", Decimal(100), "inverse"))  # coin-margined: ctVal in USD
        if "instId" in query:
            swaps = [s for s in swaps if s["instId"] == query["instId"]]
            if not swaps:
                return _json(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        return _json(200, {"code": "0", "msg": "", "data": swaps})

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            payload: Any = json.loads(body or b"{}")
            if method == "GET" and path == "/_control/stats":
                with self._lock:
                    return _json(200, {"requests": dict(self.requests)})
            if method == "POST" and path == "/_control/oi":
                self.set_oi(payload["exchange"], payload["symbol"], payload["oi"], payload["mark_price"])
            elif method == "POST" and path == "/_control/fault":
                self.set_fault(payload["exchange"], payload["kind"], symbol=payload.get("symbol"),
                               retry_after_s=int(payload.get("retry_after_s", 60)), path=payload.get("path"),
                               after=int(payload.get("after", 0)))  # fmt: skip
            elif method == "POST" and path == "/_control/instruments":
                if payload["exchange"] == "bybit":
                    self.set_bybit_linear(list(payload["symbols"]))
                else:
                    self.set_okx_swaps(dict(payload["sizes"]))
            elif method == "POST" and path == "/_control/clear":
                self.clear_faults()
            elif method == "POST" and path == "/_control/reset-counts":
                self.reset_counts()
            else:
                return _json(HTTPStatus.NOT_FOUND, {"error": f"no control {method} {path}"})
        except (ValueError, KeyError, TypeError) as exc:
            return _json(HTTPStatus.BAD_REQUEST, {"error": f"{type(exc).__name__}: {exc}"})
        return _json(200, {"ok": True})


# The history endpoints whose rate limits the fake can enforce, and the limit each counts against.
HISTORY_LIMITS: dict[tuple[str, str], market.RateLimit] = {
    ("binance", binance.OI_HISTORY): binance.OI_HISTORY_PAGING.limit,
    ("binance", binance.KLINES): binance.KLINES_PAGING.limit,
    ("bybit", bybit.OI_HISTORY): bybit.IP_LIMIT,
    ("bybit", bybit.KLINE): bybit.IP_LIMIT,
    ("okx", okx.OI_HISTORY): okx.OI_HISTORY_PAGING.limit,
    ("okx", okx.CANDLES): okx.CANDLES_PAGING.limit,
}


def _rate_limit_answer(exchange: str) -> tuple[int, dict[str, str], bytes]:
    """What each exchange answers beyond its limit: Binance 429 with Retry-After, Bybit a bare 403
    ("access too frequent", then a 10-minute ban), OKX 429 with code 50011."""
    if exchange == "bybit":
        return 403, {"Content-Type": "text/plain"}, b"access too frequent"
    if exchange == "okx":
        return _json(429, {"code": "50011", "msg": "Too Many Requests", "data": []})
    status, headers, body = _json(429, {"code": -1003, "msg": "Too many requests; current limit is 1000 per 5 min."})
    headers["Retry-After"] = "60"
    return status, headers, body


def _check_exchange(name: str) -> None:
    if name not in EXCHANGES:
        raise ValueError(f"unknown exchange {name!r} (one of {', '.join(EXCHANGES)})")


def _exchange_of(path: str) -> str | None:
    if path.startswith(("/fapi/", "/futures/data/")):
        return "binance"
    if path.startswith("/v5/"):
        return "bybit"
    if path.startswith("/api/v5/"):
        return "okx"
    return None


def _applies(fault: Fault, exchange: str, path: str, query: dict[str, str], seen: int = 0) -> bool:
    """A fault naming a symbol hits only that symbol's own request (Binance openInterest); one naming
    a path hits only that path, and only after its first `after` requests."""
    if fault.path is not None and (path != fault.path or seen <= fault.after):
        return False
    if fault.symbol is None or fault.kind in ("missing", "empty"):
        return True
    return exchange == "binance" and path == "/fapi/v1/openInterest" and query.get("symbol") == _contract(fault.symbol)


def _contract(symbol: str) -> str:
    unit = UNITS.get(symbol, 1)
    return f"{unit if unit > 1 else ''}{symbol}USDT"


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _premium(contract: str, mark: Decimal) -> dict[str, Any]:
    return {"symbol": contract, "markPrice": _num(mark), "indexPrice": _num(mark), "estimatedSettlePrice": _num(mark),
            "lastFundingRate": "0.00010000", "interestRate": "0.00010000", "nextFundingTime": TS + 3_600_000,
            "time": TS}  # fmt: skip


def _bybit_ticker(contract: str, oi: Decimal, mark: Decimal) -> dict[str, Any]:
    return {"symbol": contract, "lastPrice": _num(mark), "indexPrice": _num(mark), "markPrice": _num(mark),
            "prevPrice24h": _num(mark), "price24hPcnt": "0.0012", "highPrice24h": _num(mark),
            "lowPrice24h": _num(mark), "prevPrice1h": _num(mark),
            # Both sides since 2026-06-11 (twice the usual figure), one side in the `single` fields.
            "openInterest": _num(2 * oi), "openInterestValue": _num((2 * oi * mark).quantize(Decimal("0.01"))),
            "singleOpenInterest": _num(oi), "singleOpenInterestValue": _num((oi * mark).quantize(Decimal("0.01"))),
            "turnover24h": "1000000",
            "volume24h": "100", "fundingRate": "0.0001", "nextFundingTime": str(TS + 3_600_000),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
            "ask1Size": "1", "bid1Price": _num(mark), "ask1Price": _num(mark), "bid1Size": "1",
            "basis": ""}  # fmt: skip


def _bybit_instrument(contract: str, contract_type: str, quote: str) -> dict[str, Any]:
    base = contract.removesuffix(quote) if contract.endswith(quote) else contract.split("-")[0].removesuffix("PERP")
    return {"symbol": contract, "contractType": contract_type, "status": "Trading", "baseCoin": base,
            "quoteCoin": quote, "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
            "priceScale": "2", "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
            "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                              "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
            "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": quote, "copyTrading": "both",
            "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False,
            "preListingInfo": None, "symbolType": ""}  # fmt: skip


def _okx_instrument(inst_id: str, contract_value: Decimal, contract_type: str) -> dict[str, Any]:
    base, quote = inst_id.split("-")[:2]
    return {"instType": "SWAP", "instId": inst_id, "uly": f"{base}-{quote}", "instFamily": f"{base}-{quote}",
            "settleCcy": quote if contract_type == "linear" else base, "ctVal": _num(contract_value), "ctMult": "1",
            "ctValCcy": base if contract_type == "linear" else quote, "ctType": contract_type, "state": "live",
            "listTime": "1606468572000", "expTime": "", "lever": "100", "tickSz": "0.1", "lotSz": "0.01",
            "minSz": "0.01", "alias": "", "baseCcy": "", "quoteCcy": "", "optType": "", "stk": ""}  # fmt: skip


def _okx_oi(inst_id: str, coins: Decimal, mark: Decimal, contract_size: Decimal) -> dict[str, Any]:
    return {"instType": "SWAP", "instId": inst_id, "oi": _num(coins / contract_size), "oiCcy": _num(coins),
            "oiUsd": _num(coins * mark), "ts": str(TS)}  # fmt: skip


def _json(status: int, obj: Any) -> tuple[int, dict[str, str], bytes]:
    return int(status), {"Content-Type": "application/json"}, json.dumps(obj).encode()


def _binance_invalid_symbol() -> tuple[int, dict[str, str], bytes]:
    return _json(400, {"code": -1121, "msg": "Invalid symbol."})


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a client opens dozens at once, and the
    # client's SYN retry then costs a whole second: nothing like a real exchange's front end.
    request_queue_size = 256


def _handler_for(fake: FakeExchanges) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real exchanges and httpx's pool expect
        # Headers and body go out in separate writes; with Nagle on, the body waits for the
        # client's delayed ACK (40 ms) on every request: latency a real exchange does not add.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = fake.answer(method, self.path, body)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout fault): nothing left to do

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and benchmarks issue thousands of requests

    return Handler


class FakeExchangesProcess:
    """The fake in a child process, driven through its control endpoints."""

    def __init__(self, latency_s: float = 0.0, port: int | None = None) -> None:
        self.latency_s = latency_s
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        names = (config.BINANCE_FUTURES_REST_URL, config.BYBIT_REST_URL, config.OKX_REST_URL)
        return dict.fromkeys(names, self.url)

    def start(self, timeout_s: float = 20) -> FakeExchangesProcess:
        command = [sys.executable, "-m", "infra.fakes.exchanges_rest", "--port", str(self.port)]
        command += ["--latency-ms", str(self.latency_s * 1000)]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake exchanges exited with code {self._proc.returncode}")
            try:
                self.requests()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"fake exchanges did not start on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc)
        self._proc = None

    def __enter__(self) -> FakeExchangesProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_oi(self, exchange: str, symbol: str, oi: float, mark_price: float) -> None:
        self._post("/_control/oi", {"exchange": exchange, "symbol": symbol, "oi": oi, "mark_price": mark_price})

    def set_fault(
        self,
        exchange: str,
        kind: str,
        *,
        symbol: str | None = None,
        retry_after_s: int = 60,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        fault = {"exchange": exchange, "kind": kind, "symbol": symbol, "retry_after_s": retry_after_s}
        self._post("/_control/fault", {**fault, "path": path, "after": after})

    def set_bybit_linear(self, contracts: list[str]) -> None:
        self._post("/_control/instruments", {"exchange": "bybit", "symbols": contracts})

    def set_okx_swaps(self, sizes: dict[str, float | str]) -> None:
        self._post("/_control/instruments", {"exchange": "okx", "sizes": {k: str(v) for k, v in sizes.items()}})

    def clear_faults(self) -> None:
        self._post("/_control/clear", {})

    def reset_counts(self) -> None:
        self._post("/_control/reset-counts", {})

    def requests(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/_control/stats", timeout=2) as answer:
            return dict(json.load(answer)["requests"])

    def _post(self, path: str, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeExchanges(latency_s=args.latency_ms / 1000, host=args.host, port=args.port)
    fake.seed_calm_market()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"fake exchanges on {fake.url} (Binance, Bybit and OKX paths)", flush=True)
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
