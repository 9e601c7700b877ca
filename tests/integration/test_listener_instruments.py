"""The listener's instrument lists over real HTTP (the REST fake): Bybit's paged linear listing, OKX's
contract sizes, and what the exchanges answer when they fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.fakes.exchanges_rest import FakeExchanges
from listener.feeds import bybit, okx
from listener.rest import RestError


@pytest.fixture
def fake() -> Iterator[FakeExchanges]:
    with FakeExchanges() as server:
        yield server


async def test_bybit_lists_every_linear_usdt_perpetual_over_all_pages(fake: FakeExchanges) -> None:
    contracts = [f"C{i:04d}USDT" for i in range(2345)] + ["1000PEPEUSDT"]
    fake.set_bybit_linear(contracts)
    listed = await bybit.fetch_linear_perpetuals(fake.url)
    assert listed == sorted(contracts)  # no USDC perpetual, no dated future, nothing twice
    assert fake.requests["bybit"] == 3  # 1,000 a page


def test_bybit_documented_page_and_what_is_not_a_usdt_perpetual() -> None:
    page = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "nextPageCursor": "first%3DBIOUSDT",
            "list": [{"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "quoteCoin": "USDT"},
                     {"symbol": "BTCPERP", "contractType": "LinearPerpetual", "status": "Trading", "quoteCoin": "USDC"},
                     {"symbol": "BTCUSDT-26DEC25", "contractType": "LinearFutures", "status": "Trading",
                      "quoteCoin": "USDT"},
                     {"symbol": "OLDUSDT", "contractType": "LinearPerpetual", "status": "Closed", "quoteCoin": "USDT"},
                     "junk"]}}  # fmt: skip
    assert bybit.parse_instruments_page(page) == (["BTCUSDT"], "first%3DBIOUSDT")
    with pytest.raises(RestError, match="retCode 10001"):
        bybit.parse_instruments_page({"retCode": 10001, "retMsg": "Illegal category"})


async def test_okx_contract_sizes_of_linear_swaps_and_one_instrument_on_demand(fake: FakeExchanges) -> None:
    fake.set_okx_swaps({"BTC-USDT-SWAP": "0.01", "PEPE-USDT-SWAP": "10000000"})
    sizes = await okx.fetch_swap_instruments(fake.url)
    assert sizes == {"BTC-USDT-SWAP": 0.01, "PEPE-USDT-SWAP": 10_000_000.0}  # the inverse swap is not listed
    assert await okx.fetch_swap_instruments(fake.url, "PEPE-USDT-SWAP") == {"PEPE-USDT-SWAP": 10_000_000.0}
    with pytest.raises(RestError, match="51001"):
        await okx.fetch_swap_instruments(fake.url, "NOPE-USDT-SWAP")
    fake.set_fault("okx", "500")
    with pytest.raises(RestError, match="HTTP 500"):
        await okx.fetch_swap_instruments(fake.url)
    fake.set_fault("okx", "malformed")
    with pytest.raises(RestError, match="malformed JSON"):
        await okx.fetch_swap_instruments(fake.url)


def test_okx_sizes_need_ct_val_and_ct_mult() -> None:
    answer = {"code": "0", "data": [
        {"instType": "SWAP", "instId": "A-USDT-SWAP", "ctType": "linear", "ctVal": "0.1", "ctMult": "10"},
        {"instType": "SWAP", "instId": "B-USDT-SWAP", "ctType": "linear", "ctVal": "", "ctMult": "1"},
        {"instType": "SWAP", "instId": "C-USD-SWAP", "ctType": "inverse", "ctVal": "100", "ctMult": "1"}]}  # fmt: skip
    assert okx.parse_swap_instruments(answer) == {"A-USDT-SWAP": 1.0}  # B is never guessed
