// Live fleet: server-sent events from /api/events update the rows of this page in place
// (a device on another page of the filter is simply not here). Texts come translated
// from the page (#fleet-texts); times in the business time zone, as the server writes them.
"use strict";
(function () {
  const live = document.getElementById("live");
  const texts = JSON.parse(document.getElementById("fleet-texts").textContent);
  const stamp = new Intl.DateTimeFormat("sv-SE", {
    timeZone: texts.tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const when = (ms) => (ms ? stamp.format(new Date(ms)) : "");
  const mib = (b) => Math.round((b || 0) / 1048576).toLocaleString() + " MiB";
  const format = {
    presence: (p) => texts[p] || p,
    disk_free_bytes: mib,
    last_seen_ms: (ms) => (ms ? when(ms) : texts.never),
    down_since_ms: when,
    outbox_oldest_age_s: (s) => texts.seconds.replace("{n}", s),
  };
  const healthFields = new Set(["rules_version", "denylist_version", "reader", "outbox_depth",
    "outbox_oldest_age_s", "disk_free_bytes"]);

  function update(dev) {
    const row = document.getElementById("dev-" + dev.id);
    if (!row) { return; }
    row.querySelectorAll("[data-f]").forEach((cell) => {
      const field = cell.dataset.f;
      if (healthFields.has(field) && !dev.has_health) { return; }
      const value = dev[field];
      const text = format[field] ? format[field](value) : String(value);
      if (cell.textContent !== text) { cell.textContent = text; }
      if (field === "presence") { cell.className = "pill " + value; cell.dataset.v = value; }
    });
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => { live.textContent = texts.live; });
    source.addEventListener("error", () => { live.textContent = texts.reconnecting; });
    source.addEventListener("fleet", (event) => {
      const data = JSON.parse(event.data);
      data.devices.forEach(update);
      const badge = document.getElementById("alert-count");
      if (badge) {
        badge.textContent = data.counts.open;
        badge.classList.toggle("hot", data.counts.open > 0);
      }
      live.textContent = texts.updated.replace("{time}", new Date().toLocaleTimeString());
    });
  }
  connect();
})();
