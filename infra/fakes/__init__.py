"""Local servers that speak the exchanges' and Telegram's real wire formats (tests, demo)."""
