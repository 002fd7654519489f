// The overdue board, live: when the server says something changed, the board
// is fetched again and put in place. Without this script the board is a plain
// page with a refresh link; with it, the link is not needed.
(function () {
  "use strict";
  var board = document.getElementById("board");
  var status = document.getElementById("live");
  if (!board || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var again = false;
  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }
  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
        if (fresh) {
          board.replaceWith(fresh);
          board = fresh;
        }
        say("实时更新中 · 已刷新");
      })
      .catch(function () {
        say("实时更新中断，请刷新页面");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }
  var source = new EventSource(board.getAttribute("data-live"));
  source.addEventListener("open", function () {
    say("实时更新中");
  });
  source.addEventListener("changed", refresh);
  source.addEventListener("error", function () {
    say("正在重新连接…");
  });
})();
