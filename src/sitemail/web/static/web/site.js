// Every page: destructive forms ask first (data-confirm), and the mail catcher refreshes live.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  function cell(text, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else td.textContent = text;
    return td;
  }
  function liveInbox() {
    var table = document.getElementById("inbox");
    if (!table) return;
    var body = table.querySelector("tbody");
    var count = document.getElementById("inbox-count");
    var empty = document.getElementById("inbox-empty");
    var q = table.getAttribute("data-q") || "";
    function newest() {
      var first = body.querySelector("tr[data-id]");
      return first ? first.getAttribute("data-id") : "0";
    }
    function poll() {
      var url = "/mailcatcher/messages.json?after=" + newest() + "&q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          data.messages.slice().reverse().forEach(function (m) {
            var tr = document.createElement("tr");
            tr.setAttribute("data-id", m.id);
            tr.className = "new";
            var when = cell(m.received_at);
            when.className = "muted nowrap";
            tr.appendChild(when);
            tr.appendChild(cell(m.to));
            tr.appendChild(cell(m.subject, "/mailcatcher/" + m.id));
            tr.appendChild(cell(""));
            body.insertBefore(tr, body.firstChild);
          });
          if (data.messages.length) {
            table.hidden = false;
            if (empty) empty.hidden = true;
          }
          if (count) count.textContent = data.total;
        })
        .catch(function () {});
    }
    setInterval(poll, 2000);
  }
  document.addEventListener("DOMContentLoaded", liveInbox);
})();
