"""Telegram updates as the bot reads them, and the StateTable claims that make each handled once.

Only a `message` carrying text is a question for the bot; an edited message, a sticker, a callback
query, a channel post or anything new Telegram adds is acknowledged and left alone.

Claims (StateTable, conditional writes in the style of dispatcher/claims.py): `update#<update_id>`
makes an update handled at most once, however often Telegram delivers it (it redelivers on
anything but 2xx, and after a timeout); `refused#<chat_id>` lets a chat that may not use the bot
hear so once a day at most. DynamoDB TTL deletes lazily, so each write compares the stored expiry
with now itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

UPDATE_PREFIX = "update#"
REFUSED_PREFIX = "refused#"
# Telegram keeps an undelivered update for 24 hours: a redelivery cannot come later than that.
UPDATE_CLAIM_S = 24 * 3600
REFUSAL_EVERY_S = 24 * 3600


@dataclass(frozen=True)
class Message:
    update_id: int
    chat_id: int
    message_id: int
    text: str
    date: int  # epoch seconds, as Telegram stamps it
    private: bool  # a one-to-one chat with the bot (not a group or channel)


def update_id(update: Any) -> int | None:
    value = update.get("update_id") if isinstance(update, Mapping) else None
    return value if _is_int(value) else None


def message_of(update: Mapping[str, Any]) -> Message | None:
    """The text message an update carries, or None for every other kind of update."""
    uid = update_id(update)
    message = update.get("message")
    if uid is None or not isinstance(message, Mapping):
        return None
    chat = message.get("chat")
    text = message.get("text")
    chat_id = chat.get("id") if isinstance(chat, Mapping) else None
    message_id = message.get("message_id")
    if not isinstance(text, str) or not _is_int(chat_id) or not _is_int(message_id):
        return None
    date = message.get("date")
    private = isinstance(chat, Mapping) and chat.get("type") == "private"
    return Message(uid, chat_id, message_id, text, date if _is_int(date) else 0, private)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class Claims:
    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client  # a low-level DynamoDB client
        self._table = table
        self._taken = client.exceptions.ConditionalCheckFailedException

    def first_delivery(self, update_id: int, now_s: int) -> bool:
        """True for the first delivery of `update_id`; False for every redelivery."""
        return self._claim(f"{UPDATE_PREFIX}{update_id}", now_s, UPDATE_CLAIM_S)

    def may_refuse(self, chat_id: int, now_s: int) -> bool:
        """True when `chat_id` has not been told it may not use the bot in the last day."""
        return self._claim(f"{REFUSED_PREFIX}{chat_id}", now_s, REFUSAL_EVERY_S)

    def _claim(self, key: str, now_s: int, hold_s: int) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={"pk": {"S": key}, "expires_at": {"N": str(now_s + hold_s)}},
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(now_s)}},
            )
        except self._taken:
            return False
        return True
