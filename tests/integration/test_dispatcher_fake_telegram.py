"""The fake Telegram Bot API answers as the real one does, over real HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

from infra.fakes.telegram import FakeTelegram, Fault

TOKEN = "123:abc"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, chats={"42"}) as server:
        yield server


def url(fake: FakeTelegram, method: str = "sendMessage", token: str = TOKEN) -> str:
    return f"{fake.api_url}/bot{token}/{method}"


def test_form_json_and_query_bodies_are_accepted(fake: FakeTelegram) -> None:
    form = httpx.post(url(fake), data={"chat_id": "42", "text": "a &amp; b", "parse_mode": "HTML"})
    as_json = httpx.post(url(fake), json={"chat_id": 42, "text": "<b>bold</b>"})
    query = httpx.get(url(fake), params={"chat_id": "42", "text": "q"})
    for response in (form, as_json, query):
        assert response.status_code == 200
        assert response.json()["ok"] is True
    result = form.json()["result"]
    assert result["text"] == "a & b" and result["chat"]["id"] == 42 and result["from"]["is_bot"]
    assert [m.message_id for m in fake.messages] == [1, 2, 3]
    assert fake.messages[0].rendered == "a & b"
    assert fake.messages[1].rendered == "<b>bold</b>"  # no parse_mode: sent as plain text


@pytest.mark.parametrize(
    ("fault", "code", "description"),
    [
        (Fault.too_many_requests(7), 429, "Too Many Requests: retry after 7"),
        (Fault.chat_not_found(), 400, "Bad Request: chat not found"),
        (Fault.blocked(), 403, "Forbidden: bot was blocked by the user"),
        (Fault.server_error(), 500, "Internal Server Error"),
    ],
)
def test_scripted_faults_have_telegrams_shape(fake: FakeTelegram, fault: Fault, code: int, description: str) -> None:
    fake.script(fault)
    response = httpx.post(url(fake), data={"chat_id": "42", "text": "x"})
    assert response.status_code == code
    body = response.json()
    assert body["ok"] is False and body["error_code"] == code and body["description"] == description
    if code == 429:
        assert body["parameters"] == {"retry_after": 7}
    assert fake.messages == []
    assert httpx.post(url(fake), data={"chat_id": "42", "text": "x"}).status_code == 200  # the script is used up


def test_real_world_refusals(fake: FakeTelegram) -> None:
    def send(**params: str) -> httpx.Response:
        return httpx.post(url(fake), data={"chat_id": "42", "text": "x", **params})

    assert httpx.post(url(fake, token="999:wrong"), data={"chat_id": "42", "text": "x"}).status_code == 401
    assert send(chat_id="7").json()["description"] == "Bad Request: chat not found"
    assert send(text="a < b", parse_mode="HTML").json()["description"].startswith("Bad Request: can't parse")
    assert send(text="<blink>x</blink>", parse_mode="HTML").status_code == 400
    assert send(text="y" * 4097).json()["description"] == "Bad Request: message is too long"
    assert httpx.post(url(fake, method="nope")).status_code == 404
    assert fake.messages == []


def test_slow_and_dropped_answers(fake: FakeTelegram) -> None:
    fake.script(Fault.slow(0.5), Fault.drop())
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url(fake), data={"chat_id": "42", "text": "x"}, timeout=0.2)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url(fake), data={"chat_id": "42", "text": "x"})
    assert len(fake.messages) == 1  # the slow one was handled, the dropped one was not


def test_printing_mode_shows_the_message_as_it_would_look() -> None:
    out = io.StringIO()
    with FakeTelegram(print_messages=True, out=out) as fake:
        httpx.post(url(fake), data={"chat_id": "42", "text": "🚨 A&amp;B\nline 2", "parse_mode": "HTML"})
        assert fake.wait_for(1)[0].rendered == "🚨 A&B\nline 2"
    printed = out.getvalue()
    assert "│ 🚨 A&B\n│ line 2\n" in printed
    assert TOKEN not in printed
