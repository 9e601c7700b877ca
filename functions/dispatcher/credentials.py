"""The bot token and chat id: SSM parameters on AWS, environment variables locally.

The token lives in a SecureString parameter created once by the operator (CloudFormation cannot
create one); its name comes from TELEGRAM_TOKEN_PARAMETER, the chat id's (a String parameter) from
TELEGRAM_CHAT_ID_PARAMETER. TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID, when set, stand in for them.
Values are cached for CACHE_S, so a rotated token takes effect within that time without a deploy.
Every token seen is registered with `redaction` before anything can log it.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.utilities.parameters import SSMProvider

from cryptoalerts import config
from dispatcher.redaction import protect, quiet

CACHE_S = 300


class Credentials:
    def __init__(self, provider: SSMProvider | None = None) -> None:
        quiet()  # before the first fetch: botocore would log the decrypted response at DEBUG
        self._provider = provider or SSMProvider()

    def token(self) -> str:
        value = os.environ.get(config.TELEGRAM_BOT_TOKEN) or self._parameter(
            config.TELEGRAM_TOKEN_PARAMETER, decrypt=True
        )
        protect(value)
        return value

    def chat_id(self) -> str:
        return os.environ.get(config.TELEGRAM_CHAT_ID) or self._parameter(config.TELEGRAM_CHAT_ID_PARAMETER)

    def _parameter(self, name_variable: str, decrypt: bool = False, refresh: bool = False) -> str:
        """The parameter named by `name_variable`; `refresh` skips the cache (a value just rotated)."""
        value = self._provider.get(config.get(name_variable), decrypt=decrypt, max_age=CACHE_S, force_fetch=refresh)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the parameter named by {name_variable} is empty")
        return value.strip()
