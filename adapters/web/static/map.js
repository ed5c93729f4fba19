// The goal map's script: instant filters, expand and collapse, a goal's panel. The page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function start() {
    var token = document.body.dataset.token;
    if (!token) return; // a page that only says something
    var form = document.querySelector("form.filters");
    var tree = document.getElementById("map");
    var status = document.getElementById("status");
    var panel = document.getElementById("panel");
    var content = panel.querySelector(".content");
    var items = Array.prototype.slice.call(document.querySelectorAll("li.g"));
    var n = items.length;
    var parent = new Int32Array(n);
    var text = new Array(n);
    var data = new Array(n);
    var context = new Uint8Array(n);
    var opened = new Uint8Array(n);
    var toggles = new Array(n);
    var position = new Map();
    for (var i = 0; i < n; i++) {
      var li = items[i];
      position.set(li, i);
      var up = li.parentElement.closest("li.g");
      parent[i] = up ? position.get(up) : -1;
      // G-18 is found as g18 too.
      text[i] = "g" + li.dataset.n + " " + li.firstElementChild.querySelector(".t").textContent.toLowerCase();
      data[i] = { d: li.dataset.d, m: li.dataset.m, h: li.dataset.h, f: " " + li.dataset.f + " " };
      context[i] = li.classList.contains("ctx") ? 1 : 0;
      var first = li.firstElementChild.firstElementChild;
      toggles[i] = first.classList.contains("x") ? first : null;
      opened[i] = toggles[i] && !li.classList.contains("c") ? 1 : 0;
    }
    var LETTER = { mine: "m", unaligned: "u", stale: "s" };

    function chosen() {
      var only = [];
      form.querySelectorAll("input[name=only]:checked").forEach(function (box) { only.push(" " + LETTER[box.value] + " "); });
      var words = form.elements.q.value.toLowerCase().split(/\s+/).filter(Boolean);
      return { words: words, dept: form.elements.dept.value, team: form.elements.team.value,
               health: form.elements.health.value, only: only };
    }

    // What the map is filtered by, in words: the status line says it to a screen reader and on paper.
    function said() {
      var parts = [];
      var q = form.elements.q.value.trim();
      if (q) parts.push("\u201c" + q + "\u201d");
      ["dept", "team", "health"].forEach(function (name) {
        var list = form.elements[name];
        if (list.value) parts.push(list.options[list.selectedIndex].text);
      });
      form.querySelectorAll("input[name=only]:checked").forEach(function (box) {
        parts.push(box.parentElement.textContent.trim().toLowerCase());
      });
      return parts.length ? ": " + parts.join(", ") : "";
    }

    // A department narrows the list of teams to its own.
    function narrowTeams() {
      var department = form.elements.dept.value;
      var teams = form.elements.team;
      Array.prototype.forEach.call(teams.options, function (option) {
        if (option.value) option.hidden = !!department && option.dataset.d !== department;
      });
      if (teams.selectedIndex > 0 && teams.options[teams.selectedIndex].hidden) teams.value = "";
    }

    function matches(i, f) {
      var d = data[i];
      if (f.dept && d.d !== f.dept) return false;
      if (f.team && d.m !== f.team) return false;
      if (f.health && d.h !== f.health) return false;
      for (var k = 0; k < f.only.length; k++) if (d.f.indexOf(f.only[k]) < 0) return false;
      for (var w = 0; w < f.words.length; w++) if (text[i].indexOf(f.words[w]) < 0) return false;
      return true;
    }

    function setOpen(i, open) {
      // Only a goal with supporters opens, and only what changes is touched.
      if (!toggles[i] || opened[i] === (open ? 1 : 0)) return;
      opened[i] = open ? 1 : 0;
      items[i].classList.toggle("c", !open);
      toggles[i].setAttribute("aria-expanded", open ? "true" : "false");
    }

    function apply() {
      var f = chosen();
      var active = f.words.length || f.dept || f.team || f.health || f.only.length;
      var match = new Uint8Array(n), shown = new Uint8Array(n), open = new Uint8Array(n);
      var count = 0;
      for (var i = 0; i < n; i++) {
        if (!active) { shown[i] = 1; continue; }
        if (matches(i, f)) {
          match[i] = shown[i] = 1;
          count++;
          for (var p = parent[i]; p >= 0 && !open[p]; p = parent[p]) { shown[p] = open[p] = 1; }
        }
      }
      for (var j = 0; j < n; j++) {
        var li = items[j];
        var hide = !shown[j];
        if (li.hidden !== hide) li.hidden = hide;
        var faint = active && shown[j] && !match[j] ? 1 : 0;
        if (context[j] !== faint) { li.classList.toggle("ctx", !!faint); context[j] = faint; }
        // Filtered, the way to each match opens; unfiltered, the map is the overview again (the top open).
        if (active ? open[j] : true) setOpen(j, active || parent[j] < 0);
      }
      status.textContent = active ? count + " of " + n + " goals match" + said() + "." : n + (n === 1 ? " goal." : " goals.");
      var query = new URLSearchParams(new FormData(form));
      history.replaceState(null, "", "?" + query.toString() + location.hash);
    }

    // Typing filters at each key; a list or a box, once chosen.
    form.addEventListener("input", function (event) { if (event.target.name === "q") apply(); });
    form.addEventListener("change", function (event) {
      if (event.target.name === "dept") narrowTeams();
      if (event.target.name !== "q") apply();
    });
    narrowTeams();
    form.querySelector(".clear").addEventListener("click", function (event) {
      event.preventDefault();
      form.elements.q.value = "";
      ["dept", "team", "health"].forEach(function (name) { form.elements[name].value = ""; });
      form.querySelectorAll("input[name=only]").forEach(function (box) { box.checked = false; });
      narrowTeams();
      apply();
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    form.querySelector(".expand").hidden = false;
    form.querySelector(".collapse").hidden = false;
    form.querySelector(".expand").addEventListener("click", function () { for (var k = 0; k < n; k++) setOpen(k, true); });
    form.querySelector(".collapse").addEventListener("click", function () { for (var k = 0; k < n; k++) setOpen(k, false); });
    tree.addEventListener("click", function (event) {
      var button = event.target.closest("button.x");
      if (button) {
        var k = position.get(button.closest("li.g"));
        setOpen(k, !opened[k]);
      }
    });

    var opener = null;
    function showGoal() {
      var found = /^#G-(\d{1,9})$/.exec(location.hash);
      if (!found) { closePanel(false); return; }
      var address = document.body.dataset.goal + "?t=" + encodeURIComponent(token) + "&g=" + found[1] + "&part=panel";
      fetch(address, { credentials: "same-origin", referrerPolicy: "no-referrer" })
        .then(function (answer) { return answer.text(); })
        .then(function (html) {
          content.innerHTML = html;
          panel.hidden = false;
          panel.focus();
        })
        .catch(function () {
          content.textContent = "The goal could not be loaded; try again.";
          panel.hidden = false;
          panel.focus();
        });
    }
    function closePanel(restore) {
      if (panel.hidden) return;
      panel.hidden = true;
      content.textContent = "";
      if (restore) history.replaceState(null, "", location.pathname + location.search);
      if (opener) opener.focus();
    }
    tree.addEventListener("click", function (event) {
      var link = event.target.closest("a.t");
      if (link) opener = link;
    });
    window.addEventListener("hashchange", showGoal);
    panel.querySelector(".close").addEventListener("click", function () { closePanel(true); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) closePanel(true);
    });
    if (location.hash) showGoal();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
