"""Copilot alerts: rules over the strategies' signals, prices and risk events that raise
alerts, delivered on the control API's websocket, in the log and to an optional webhook
(Telegram / Discord / Slack style), listed and acknowledged through the API.

``rules`` holds the rule kinds, ``center`` the alerts raised, their delivery and
acknowledgement."""

from engine.alerts.center import Alert, AlertCenter
from engine.alerts.rules import RULE_KINDS, Rule, default_rules

__all__ = ["RULE_KINDS", "Alert", "AlertCenter", "Rule", "default_rules"]
