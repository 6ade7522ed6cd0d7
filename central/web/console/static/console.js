// The operator console's live updates and confirmations: plain JavaScript, no build step.
// Live: one EventSource on /console/events (the page's site, if it shows one); each event
// carries only what changed (central/web/console/live.py), applied here without a reload.
(function () {
  "use strict";

  function setText(el, text) { if (el && el.textContent !== String(text)) el.textContent = text; }

  function applySites(states) {
    Object.keys(states).forEach(function (site) {
      document.querySelectorAll('circle[data-site="' + CSS.escape(site) + '"]').forEach(function (dot) {
        dot.setAttribute("class", "dot state-" + states[site]);
      });
    });
  }

  function applySlots(slots) {
    Object.keys(slots).forEach(function (slot) {
      var cell = document.querySelector('.cell[data-slot="' + CSS.escape(slot) + '"]');
      if (!cell) return;
      var css = slots[slot][0], title = slots[slot][1], inService = slots[slot][2];
      cell.className = "cell cell-" + css;
      cell.title = title;
      // The service switch offers what the slot's state now allows.
      var toggle = cell.querySelector("button.service-slot");
      if (toggle && typeof inService === "boolean") {
        toggle.dataset.inService = inService ? "false" : "true";
        setText(toggle, inService ? "disable" : "enable");
        toggle.title = (inService ? "take " + slot + " out of service" : "put " + slot + " back into service");
      }
    });
  }

  function applySiteAlarms(rows) {
    var body = document.getElementById("site-alarms");
    if (!body) return;
    body.textContent = "";
    if (!rows.length) {
      var none = body.insertRow(); none.className = "none";
      var cell = none.insertCell(); cell.colSpan = 5; cell.textContent = "no open alarms";
      return;
    }
    rows.forEach(function (row) {
      var tr = body.insertRow();
      row.forEach(function (value) { tr.insertCell().textContent = value; });
    });
  }

  function apply(change) {
    if (change.sites) applySites(change.sites);
    if (change.counts) {
      Object.keys(change.counts).forEach(function (state) {
        setText(document.querySelector('[data-count="' + state + '"]'), change.counts[state]);
      });
    }
    if ("alarms" in change) setText(document.getElementById("alarm-count"), change.alarms || "");
    if (change.slots) applySlots(change.slots);
    if (change.site_state) {
      var badge = document.getElementById("site-state");
      if (badge) { badge.className = "badge state-" + change.site_state; setText(badge, change.site_state); }
    }
    if (change.site_alarms) applySiteAlarms(change.site_alarms);
    // For a person (and a test): how many updates arrived since the page loaded.
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  function connect() {
    var live = document.body.dataset.live;
    if (!document.getElementById("alarm-count") || !window.EventSource) return;
    var url = "/console/events";
    if (live && ["map", "alarms"].indexOf(live) < 0) url += "?site=" + encodeURIComponent(live);
    var source = new EventSource(url);
    var status = document.getElementById("live-status");
    source.onopen = function () { if (status) { status.textContent = "live"; status.className = "live-status live"; } };
    source.onerror = function () { if (status) { status.textContent = "reconnecting"; status.className = "live-status"; } };
    source.onmessage = function (message) { apply(JSON.parse(message.data)); };
  }

  // The confirmation before a door moves or a slot changes service: the reason is required
  // and goes in the audit log.
  function confirmations() {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || !window.consoleSite) return;
    var form = document.getElementById("confirm-form");
    var title = document.getElementById("confirm-title");
    var text = document.getElementById("confirm-text");
    var inService = document.getElementById("confirm-in-service");
    var base = "/console/sites/" + encodeURIComponent(window.consoleSite) + "/slots/";
    document.querySelectorAll("button.open-slot").forEach(function (button) {
      button.addEventListener("click", function () {
        var slot = button.dataset.slot;
        form.action = base + encodeURIComponent(slot) + "/open";
        title.textContent = "Open slot " + slot + " at " + window.consoleSite + "?";
        text.textContent = "The door opens at the site for whoever stands there. Say why: it goes in the audit log with your name.";
        inService.value = "";
        dialog.showModal();
      });
    });
    document.querySelectorAll("button.service-slot").forEach(function (button) {
      button.addEventListener("click", function () {
        var slot = button.dataset.slot, back = button.dataset.inService === "true";
        form.action = base + encodeURIComponent(slot) + "/service";
        title.textContent = (back ? "Put slot " + slot + " back into service" : "Take slot " + slot + " out of service") + "?";
        text.textContent = back ? "The site will use the slot for parcels again." : "No parcel will be placed in it until it is back in service.";
        inService.value = back ? "true" : "false";
        dialog.showModal();
      });
    });
    document.getElementById("confirm-cancel").addEventListener("click", function () { dialog.close(); });
  }

  function revokes() {
    document.querySelectorAll("form.revoke").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm("Revoke this badge? Every site will refuse it.")) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { connect(); confirmations(); revokes(); });
})();
