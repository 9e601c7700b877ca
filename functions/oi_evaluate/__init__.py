"""OiEvaluateFunction: 15-minute OI deltas with cross-exchange confirmation; alerts to AlertQueue."""
