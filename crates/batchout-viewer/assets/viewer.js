// The batchout viewer's one script. Every page works without it; it adds,
// on a file's page: following a growing log (only the bytes after what the
// page holds are fetched), loading the lines before the window, search
// within the loaded lines, and wrapping. Lines come from the server already
// rendered and escaped (/lines/...), so this script never builds markup
// from stored text.
"use strict";
document.documentElement.classList.add("js");

(function () {
  const lines = document.getElementById("lines");
  if (!lines) return;
  const status = document.getElementById("status");
  const follow = document.getElementById("follow");
  const wrap = document.getElementById("wrap");
  const search = document.getElementById("search");
  const hits = document.getElementById("hits");
  const range = document.getElementById("range");
  const size = document.getElementById("size");
  const src = lines.dataset.src;
  const state = {
    start: Number(lines.dataset.start),
    end: Number(lines.dataset.end),
    nextLine: lines.dataset.nextLine === "" ? null : Number(lines.dataset.nextLine),
    atEnd: lines.dataset.atEnd === "true",
    busy: false,
  };
  const POLL_MS = 1000;

  function showRange(total) {
    if (range) range.textContent = state.start + "–" + state.end;
    if (size && total !== undefined) size.textContent = human(total);
  }

  function human(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let value = bytes / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return value.toFixed(1) + " " + units[unit];
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // rendered and escaped by the server
    return template.content;
  }

  async function fetchLines(params) {
    const answer = await fetch(src + "?" + new URLSearchParams(params), { credentials: "same-origin" });
    if (!answer.ok) {
      let message = answer.status + " " + answer.statusText;
      try { message = (await answer.json()).error || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return answer.json();
  }

  // Following: ask for what follows the last whole line shown.
  async function poll() {
    if (!follow || !follow.checked || state.busy || !state.atEnd) return;
    state.busy = true;
    try {
      const params = { from: state.end };
      if (state.nextLine !== null) params.line = state.nextLine;
      const got = await fetchLines(params);
      const partial = lines.querySelector(".ln.partial");
      if (got.lines > 0 || got.end !== state.end) {
        const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        if (partial) partial.remove();
        const empty = document.getElementById("no-lines");
        if (empty && got.lines > 0) empty.remove();
        lines.appendChild(fragment(got.html));
        state.end = got.end;
        state.nextLine = got.next_line;
        if (search && search.value) mark();
        if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
      }
      showRange(got.size);
      if (status) status.textContent = "Following: last checked " + new Date().toLocaleTimeString();
    } catch (e) {
      if (status) status.textContent = "Could not follow: " + e.message;
    } finally {
      state.busy = false;
    }
  }
  if (follow) {
    follow.disabled = !state.atEnd;
    if (!state.atEnd) follow.title = "Go to the end of the file to follow it";
    setInterval(poll, POLL_MS);
    follow.addEventListener("change", poll);
  }

  // What came before the window.
  const earlier = document.getElementById("load-earlier");
  if (earlier) {
    earlier.addEventListener("click", async function () {
      earlier.disabled = true;
      try {
        const got = await fetchLines({ before: state.start });
        const first = earlier.nextElementSibling;
        lines.insertBefore(fragment(got.html), first);
        state.start = got.start;
        showRange(got.size);
        if (state.start === 0) earlier.remove();
        if (search && search.value) mark();
      } catch (e) {
        if (status) status.textContent = "Could not load earlier lines: " + e.message;
      } finally {
        earlier.disabled = false;
      }
    });
  }

  if (wrap) {
    wrap.checked = localStorage.getItem("batchout-wrap") === "1";
    lines.classList.toggle("wrap", wrap.checked);
    wrap.addEventListener("change", function () {
      lines.classList.toggle("wrap", wrap.checked);
      localStorage.setItem("batchout-wrap", wrap.checked ? "1" : "0");
    });
  }

  // Search: marks the loaded lines that hold the text; Enter goes to the next.
  let current = -1;
  function mark() {
    const needle = search.value.toLowerCase();
    const all = lines.querySelectorAll(".ln");
    let count = 0;
    all.forEach(function (line) {
      const hit = needle !== "" && line.querySelector(".tx").textContent.toLowerCase().includes(needle);
      line.classList.toggle("hit", hit);
      line.classList.remove("current");
      if (hit) count++;
    });
    if (hits) hits.textContent = needle === "" ? "" : count + (count === 1 ? " line" : " lines");
    current = -1;
    return count;
  }
  if (search) {
    search.addEventListener("input", mark);
    search.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const found = lines.querySelectorAll(".ln.hit");
      if (found.length === 0) return;
      if (current >= 0 && found[current]) found[current].classList.remove("current");
      current = (current + 1) % found.length;
      found[current].classList.add("current");
      found[current].scrollIntoView({ block: "center" });
      if (hits) hits.textContent = (current + 1) + " of " + found.length;
    });
  }

  // A shared link to a line: show it in the middle of the screen.
  const target = lines.querySelector(".ln.target") ||
    (location.hash.startsWith("#b") ? document.getElementById(location.hash.slice(1)) : null);
  if (target) target.scrollIntoView({ block: "center" });
  showRange();
})();
