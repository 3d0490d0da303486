"""The alerts raised: kept (the latest 1,000), delivered to the websocket, the log and an
optional webhook, and acknowledged through the API.

The webhook gets a JSON POST ``{"text": ..., "content": ..., "alert": {...}}``: ``text`` is
what Telegram's ``sendMessage`` and Slack's incoming webhooks show, ``content`` what
Discord's do. Deliveries run in a background thread (a slow webhook never holds up the
session), are tried twice, and failures are logged. The webhook's URL (which often carries a
bot token) is treated as a secret: it never appears in logs or API answers.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from engine.alerts.rules import Rule
from engine.obs import logs
from engine.obs.metrics import Samples

KEPT = 1000


@dataclasses.dataclass
class Alert:
    """One alert: what fired, why, and whether someone acknowledged it."""

    rule_id: str
    kind: str
    severity: str
    message: str
    data: Any
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])
    ts: float = dataclasses.field(default_factory=time.time)
    acknowledged: bool = False
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None

    def view(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AlertCenter:
    """Rules, the alerts they raised, and their delivery."""

    def __init__(self, rules: Iterable[Rule] = (), *,
                 publish: Callable[[dict[str, Any]], None] | None = None,
                 webhook_url: str | None = None, webhook_timeout: float = 5.0) -> None:
        self.rules: dict[str, Rule] = {r.id: r for r in rules}
        self.alerts: deque[Alert] = deque(maxlen=KEPT)
        self.publish = publish
        self.webhook_url = webhook_url
        self.webhook_timeout = webhook_timeout
        self.raised: dict[tuple[str, str], int] = {}
        self.delivered = 0
        self.failed_deliveries = 0
        self._lock = threading.Lock()
        self.log = logs.get_logger("raytrader.alerts")
        if webhook_url:
            logs.register_secrets([webhook_url])
        self._outbox: queue.Queue[Alert | None] = queue.Queue()
        self._sender: threading.Thread | None = None

    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules[rule.id] = rule
        return rule

    def remove_rule(self, rule_id: str) -> bool:
        with self._lock:
            return self.rules.pop(rule_id, None) is not None

    def observe(self, kind: str, data: Any, now: float | None = None) -> list[Alert]:
        """Run the rules over one observation; raise and deliver what fires."""
        with self._lock:
            rules = list(self.rules.values())
        raised = []
        for rule in rules:
            for message, details in rule.check(kind, data, now):
                raised.append(self._raise(rule, message, details))
        return raised

    def _raise(self, rule: Rule, message: str, details: Any) -> Alert:
        alert = Alert(rule.id, rule.kind, rule.severity, message, details)
        with self._lock:
            self.alerts.append(alert)
            key = (rule.kind, rule.severity)
            self.raised[key] = self.raised.get(key, 0) + 1
        level = "error" if rule.severity == "critical" else "warning" \
            if rule.severity == "warning" else "info"
        getattr(self.log, level)("alert", alert_id=alert.id, rule=rule.kind,
                                 severity=rule.severity, message=message)
        if self.publish is not None:
            self.publish(alert.view())
        if self.webhook_url:
            self._send_later(alert)
        return alert

    def list(self, *, unacknowledged: bool = False) -> list[Alert]:
        with self._lock:
            alerts = list(self.alerts)
        return [a for a in alerts if not (unacknowledged and a.acknowledged)]

    def acknowledge(self, alert_id: str, by: str | None = None) -> Alert | None:
        with self._lock:
            for alert in self.alerts:
                if alert.id == alert_id:
                    if not alert.acknowledged:
                        alert.acknowledged, alert.acknowledged_at = True, time.time()
                        alert.acknowledged_by = by
                    return alert
        return None

    # --- the webhook -------------------------------------------------------------------

    def _send_later(self, alert: Alert) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, name="alert-webhook",
                                            daemon=True)
            self._sender.start()
        self._outbox.put(alert)

    def _send_loop(self) -> None:
        while True:
            alert = self._outbox.get()
            if alert is None:
                return
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> bool:
        text = f"[{alert.severity.upper()}] {alert.message}"
        body = json.dumps({"text": text, "content": text, "alert": alert.view()},
                          default=str).encode()
        assert self.webhook_url is not None
        for attempt in (1, 2):
            request = urllib.request.Request(self.webhook_url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.webhook_timeout) as answer:
                    if 200 <= answer.status < 300:
                        self.delivered += 1
                        return True
                    problem = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                problem = type(exc).__name__
            self.log.warning("alert webhook failed", alert_id=alert.id, attempt=attempt,
                             problem=problem)
            time.sleep(0.5 * attempt)
        self.failed_deliveries += 1
        return False

    def close(self) -> None:
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(10)

    def samples(self, samples: Samples) -> None:
        with self._lock:
            raised = dict(self.raised)
        for (rule, severity), n in raised.items():
            samples.add("raytrader_alerts_total", n, rule=rule, severity=severity)


__all__ = ["Alert", "AlertCenter"]
