"""The text of each reply (pure): data the handler fetched in, Telegram HTML out.

One module per command; `text` holds the number and time formats they share. Every value that
comes from outside (a symbol, an exchange's figure) is escaped; a reply never exceeds 4,096
characters (`text.finish` cuts detail lines first).
"""
