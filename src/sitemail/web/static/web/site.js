// Every page: destructive forms ask first (data-confirm), and the mail catcher refreshes live.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

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
            // The server renders the row (escaped, with its Delete form) as the page does.
            var rows = document.createElement("tbody");
            rows.innerHTML = m.html;
            var tr = rows.firstElementChild;
            if (!tr) return;
            tr.classList.add("new");
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
