"""Tokens, dollars and device time: spend, forecasts, the dry run, the cost ceiling."""
