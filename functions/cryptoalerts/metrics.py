"""CloudWatch metric names (EMF, namespace `CryptoAlerts`): one place for every name the code emits.

The dashboard and the alarms in template.yaml refer to these names; a test keeps them in step.
"""

from __future__ import annotations

NAMESPACE = "CryptoAlerts"

# Thresholds
INVALID_THRESHOLDS = "InvalidThresholds"
# Listener
FRAMES = "Frames"
MALFORMED_FRAMES = "MalformedFrames"
QUALIFYING_LIQUIDATIONS = "QualifyingLiquidations"
CASCADES = "Cascades"
RECONNECTS = "Reconnects"
SECONDS_SINCE_LAST_FRAME = "SecondsSinceLastFrame"
LISTENER_CONNECTED = "ListenerConnected"
OUTBOX_DEPTH = "OutboxDepth"
OUTBOX_DROPPED = "OutboxDropped"
ALERT_SEND_FAILURES = "AlertSendFailures"
DUPLICATE_FRAMES = "DuplicateFrames"
# 1 while a feed in `feeds.liquidations` has no fresh connection, 0 otherwise (dimension `exchange`;
# Frames, MalformedFrames, QualifyingLiquidations, Reconnects and SecondsSinceLastFrame are emitted
# per exchange too, besides their listener-wide figures).
FEED_DOWN = "FeedDown"
# OI pipeline
OI_SNAPSHOT_OK = "OiSnapshotOk"
OI_SNAPSHOT_FAILED = "OiSnapshotFailed"
OI_EVALUATIONS = "OiEvaluations"
# Alerts (dimension `kind` when produced, `status` when dispatched)
ALERTS_PRODUCED = "AlertsProduced"
ALERTS = "Alerts"
TELEGRAM_LATENCY = "TelegramLatency"
TELEGRAM_ERRORS = "TelegramErrors"
# Dispatcher: Alerts has dimension `status` (delivered | duplicate | rate_limited | failed | invalid),
# TelegramErrors dimension `reason` (rate_limited | unavailable | rejected).
HISTORY_WRITE_FAILURES = "HistoryWriteFailures"
# Commands (CommandsFunction): Commands has dimension `command` (price | volume | ... | invalid),
# WebhookRejected dimension `reason` (missing | wrong), CommandExchangeFailures dimension `exchange`;
# TelegramErrors (dimension `reason`) counts replies Telegram did not take.
COMMANDS_HANDLED = "Commands"
COMMAND_REPLY_TIME = "CommandReplyTime"
WEBHOOK_REJECTED = "WebhookRejected"
COMMAND_EXCHANGE_FAILURES = "CommandExchangeFailures"
