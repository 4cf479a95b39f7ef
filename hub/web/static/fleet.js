// Live fleet: server-sent events from /api/events update each device row in place.
"use strict";
(function () {
  const live = document.getElementById("live");
  const mib = (b) => Math.round((b || 0) / 1048576).toLocaleString() + " MiB";
  const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "never");
  const format = { disk_free_bytes: mib, last_seen_ms: when, outbox_oldest_age_s: (s) => s + " s" };

  function update(dev) {
    const row = document.getElementById("dev-" + dev.id);
    if (!row) { return false; }
    row.querySelectorAll("[data-f]").forEach((cell) => {
      const field = cell.dataset.f;
      const value = dev[field];
      const text = format[field] ? format[field](value) : String(value);
      if (cell.textContent !== text) { cell.textContent = text; }
      if (field === "presence") { cell.className = "pill " + value; }
    });
    return true;
  }

  function summarise(devices) {
    for (const p of ["online", "stale", "offline"]) {
      const el = document.getElementById("sum-" + p);
      if (el) { el.textContent = devices.filter((d) => d.presence === p).length + " " + p; }
    }
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("open", () => { live.textContent = "live"; });
    source.addEventListener("error", () => { live.textContent = "reconnecting…"; });
    source.addEventListener("fleet", (event) => {
      const data = JSON.parse(event.data);
      let unknown = false;
      data.devices.forEach((dev) => { if (!update(dev)) { unknown = true; } });
      summarise(data.devices);
      const badge = document.getElementById("alert-count");
      if (badge) {
        badge.textContent = data.counts.open;
        badge.classList.toggle("hot", data.counts.open > 0);
      }
      live.textContent = "live · updated " + new Date().toLocaleTimeString();
      if (unknown) { window.location.reload(); }
    });
  }
  connect();
})();
