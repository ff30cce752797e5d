// Site-admin console: SMTP provider presets and the CodeMirror editor (served from node_modules).
(function () {
  "use strict";
  function presets() {
    var data = document.getElementById("smtp-presets");
    if (!data) return;
    var list = JSON.parse(data.textContent);
    var note = document.getElementById("preset-note");
    document.querySelectorAll("[data-preset]").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("[data-preset]").forEach(function (b) { b.classList.remove("active"); });
        button.classList.add("active");
        var p = list.find(function (x) { return x.id === button.dataset.preset; });
        if (!p) { note.textContent = "Enter your server's settings."; return; }
        document.getElementById("f-host").value = p.host;
        document.getElementById("f-port").value = p.port;
        document.getElementById("f-tls").value = p.tls;
        document.getElementById("f-auth").value = p.authentication;
        var user = document.getElementById("f-username");
        if (p.username) user.value = p.username;
        // Clear a username another preset filled in (or the stored one's REDACTED stand-in).
        else if (user.value === "REDACTED" || list.some(function (x) { return x.username && x.username === user.value; })) user.value = "";
        note.textContent = p.note;
        (p.username ? document.getElementById("f-password") : user).focus();
      });
    });
  }
  function editor() {
    var area = document.getElementById("config-text");
    if (!area || typeof CodeMirror === "undefined") return;
    var cm = CodeMirror.fromTextArea(area, {
      mode: { name: "javascript", json: true },
      lineNumbers: true,
      matchBrackets: true,
      autoCloseBrackets: true,
      tabSize: 2,
      indentUnit: 2,
      readOnly: area.hasAttribute("readonly"),
    });
    window.sitemailEditor = cm;  // for browser tests and the console
    var panel = document.getElementById("validation-list");
    var form = document.getElementById("config-form");
    if (!panel || !form) return;
    var timer = null;
    cm.on("change", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var body = new URLSearchParams();
        body.set("contents", cm.getValue());
        body.set("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
        fetch("/site-admin/configuration/validate", { method: "POST", body: body, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data) showMessages(panel, data.messages); });
      }, 400);
    });
  }
  function showMessages(panel, messages) {
    panel.textContent = "";
    if (!messages.length) {
      var ok = document.createElement("p");
      ok.className = "ok";
      ok.textContent = "No problems found.";
      panel.appendChild(ok);
      return;
    }
    var list = document.createElement("ul");
    messages.forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = m;
      list.appendChild(li);
    });
    panel.appendChild(list);
  }
  document.addEventListener("DOMContentLoaded", function () { presets(); editor(); });
})();
