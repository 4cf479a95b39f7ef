"""Tunables of the dashboard, one frozen object so tests can shorten them."""

from __future__ import annotations

from dataclasses import dataclass, field

# A device heartbeats every 10 s (tapcard.device.link.HEARTBEAT_S); three missed ones
# mean the device is not really there even if no last will arrived (broker restarted,
# half-open TCP), so it is shown stale, never online.
STALE_AFTER_S = 35.0
OFFLINE_ALERT_S = 120.0  # a restart or a short Wi-Fi drop should not page anyone
OUTBOX_DEPTH_ALERT = 200  # intents waiting on a device
OUTBOX_AGE_ALERT_S = 900  # oldest unsent intent
DISK_FREE_BYTES_MIN = 500 * 1024 * 1024
# A branch is one outage alert, not one per device, when at least this many and this
# share of its active devices are offline or stale (its uplink or power went).
OUTAGE_DEVICES_MIN = 3
OUTAGE_SHARE_PCT = 50
CONFIG_ACK_GRACE_S = 300.0  # devices get a new rule set / deny list within this
POLL_INTERVAL_S = 0.4  # devices table polled this often: offline shown within 2 s
SESSION_TTL_S = 12 * 3600
# Request bodies are counted as they arrive and refused past these, before anything is
# spooled (hub.web.bodylimit): a login or a card form is a few hundred bytes.
BODY_BYTES_MAX = 64 * 1024
RULES_FILE_BYTES_MAX = 512 * 1024  # a rule set file; the sample is under 3 KiB
RULES_FORM_BYTES_MAX = RULES_FILE_BYTES_MAX + BODY_BYTES_MAX  # the file and its form

assert POLL_INTERVAL_S < 1.0, "offline must be shown within 2 s"
assert STALE_AFTER_S > 3 * 10.0, "stale only after three missed heartbeats"
assert BODY_BYTES_MAX < RULES_FILE_BYTES_MAX < RULES_FORM_BYTES_MAX


@dataclass(frozen=True, slots=True)
class WebSettings:
    stale_after_s: float = STALE_AFTER_S
    offline_alert_s: float = OFFLINE_ALERT_S
    outbox_depth_alert: int = OUTBOX_DEPTH_ALERT
    outbox_age_alert_s: int = OUTBOX_AGE_ALERT_S
    disk_free_bytes_min: int = DISK_FREE_BYTES_MIN
    outage_devices_min: int = OUTAGE_DEVICES_MIN
    outage_share_pct: int = OUTAGE_SHARE_PCT
    config_ack_grace_s: float = CONFIG_ACK_GRACE_S
    poll_interval_s: float = POLL_INTERVAL_S
    session_ttl_s: float = SESSION_TTL_S
    # Cookies carry the Secure flag unless the dashboard is served over plain HTTP on
    # purpose (`--web-insecure`, a lab or a TLS-terminating proxy on the same host).
    cookie_secure: bool = True
    # Who hears of a new alert besides the log (hub/web/alert_notify.py notifier_from):
    # e-mail when a host and recipients (comma-separated) are set, a webhook when a URL is.
    # From the hub's environment (hub/web/notify_settings.py from_env); HQ may change all
    # but the secrets on the alerts page. smtp_security: none, starttls or tls (implicit
    # TLS, port 465); a login when smtp_user is set; smtp_ca_file: the CA to trust
    # instead of the system's (a relay with the chain's own certificate).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_ca_file: str = ""
    smtp_from: str = "tapcard@localhost"
    smtp_to: str = ""
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
