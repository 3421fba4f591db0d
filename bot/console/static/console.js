// Keeps an open console page current without a framework: the queue and a conversation's
// messages are re-fetched as server-rendered HTML fragments. Without JavaScript every page
// still works; it just needs a reload.
(function () {
  "use strict";
  var QUEUE_EVERY = 5000;
  var LINES_EVERY = 3000;

  function fragment(html) {
    var table = document.createElement("table");
    table.innerHTML = html;
    return table.querySelector("tbody");
  }

  function poll(every, step) {
    function tick() {
      if (document.hidden) { return schedule(); }
      step().catch(function () { /* offline for a moment: try again next time */ }).then(schedule);
    }
    function schedule() { window.setTimeout(tick, every); }
    schedule();
  }

  function get(url) {
    return window.fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      });
  }

  var queue = document.querySelector("table.queue[data-live]");
  if (queue) {
    poll(QUEUE_EVERY, function () {
      return get(queue.getAttribute("data-live")).then(function (html) {
        var fresh = fragment(html);
        var old = queue.querySelector("tbody#queue-rows");
        if (fresh && old && fresh.innerHTML !== old.innerHTML) {
          old.replaceWith(fresh);
          var waiting = Number(fresh.getAttribute("data-waiting") || "0");
          document.title = document.title.replace(/^\(\d+\) /, "");
          if (waiting) { document.title = "(" + waiting + ") " + document.title; }
        }
      });
    });
  }

  var transcript = document.querySelector("table.transcript[data-live]");
  if (transcript) {
    var status = document.getElementById("live-status");
    poll(LINES_EVERY, function () {
      var after = transcript.getAttribute("data-after") || "0";
      return get(transcript.getAttribute("data-live") + "?after=" + encodeURIComponent(after)).then(function (html) {
        var fresh = fragment(html);
        if (!fresh || !fresh.rows.length) { return; }
        var body = transcript.querySelector("tbody.lines");
        var last = after;
        Array.prototype.slice.call(fresh.rows).forEach(function (row) {
          body.appendChild(row);
          last = row.getAttribute("data-id") || last;
        });
        transcript.setAttribute("data-after", last);
        if (status) { status.textContent = status.getAttribute("data-new") || "Neue Nachricht"; }
      });
    });
  }
})();
