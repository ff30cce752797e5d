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
        if (!p) {
          // "Other": a host or username a preset filled in is not the admin's server.
          var host = document.getElementById("f-host");
          var u = document.getElementById("f-username");
          if (list.some(function (x) { return x.host === host.value; })) host.value = "";
          if (list.some(function (x) { return x.username && x.username === u.value; })) u.value = "";
          note.textContent = "Enter your server's settings.";
          host.focus();
          return;
        }
        document.getElementById("f-host").value = p.host;
        document.getElementById("f-port").value = p.port;
        document.getElementById("f-tls").value = p.tls;
        document.getElementById("f-auth").value = p.authentication;
        var user = document.getElementById("f-username");
        if (p.username) user.value = p.username;
        // Clear a username another preset filled in.
        else if (list.some(function (x) { return x.username && x.username === user.value; })) user.value = "";
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
  // "Send test email" posts the SMTP form as it is (saved or not) and shows the answer in place,
  // so nothing typed in the form (a new password) is lost to a page reload.
  function testEmail() {
    var button = document.getElementById("test-send");
    var form = document.getElementById("smtp-form");
    var output = document.getElementById("test-output");
    if (!button || !form || !output || !window.fetch) return;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) return;
      var body = new FormData(form);
      button.disabled = true;
      output.innerHTML = '<p class="muted" role="status">Sending…</p>';
      fetch("/site-admin/configuration/test-email", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("test-output");
          var problems = doc.getElementById("smtp-problems");
          output.innerHTML = fresh ? fresh.innerHTML : "";
          var old = document.getElementById("smtp-problems");
          if (old) old.remove();
          if (problems) form.parentNode.insertBefore(problems, form);
          // Problems beside the control that caused them, the first one scrolled into view.
          form.querySelectorAll(".sa-field-error").forEach(function (e) { e.remove(); });
          form.querySelectorAll("[data-field]").forEach(function (f) { f.classList.remove("invalid"); });
          var first = problems;
          doc.querySelectorAll("[data-field] .sa-field-error").forEach(function (e) {
            var field = form.querySelector('[data-field="' + e.parentNode.dataset.field + '"]');
            if (!field) return;
            field.appendChild(e);
            field.classList.add("invalid");
            first = first || field;
          });
          if (first) first.scrollIntoView({ block: "center" });
        })
        .catch(function (err) { output.textContent = "Could not reach the server: " + err; })
        .finally(function () { button.disabled = false; });
    });
  }
  // After a rejected save the first problem is what the admin sees, not the top of the page.
  function showFirstProblem() {
    var first = document.querySelector("#smtp-problems, .sa-field-error, #save-problems");
    if (first) first.scrollIntoView({ block: "center" });
  }
  document.addEventListener("DOMContentLoaded", function () {
    presets(); editor(); testEmail(); showFirstProblem();
  });
})();
