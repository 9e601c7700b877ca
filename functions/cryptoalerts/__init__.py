"""Shared core of crypto-alerts: used by every Lambda function and by the listener."""
