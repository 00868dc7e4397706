// A job's page, live: the job's event stream (GET /job/{id}/events, sent with
// the session cookie) says when something changed; the server renders the
// changed part again (GET /ui/job/{id}/live) and it is swapped in. One
// renderer (the templates), and a refresh at most every MIN_GAP ms however
// fast events arrive, so a broadcast to a thousand agents stays light.
const MIN_GAP = 300;

const live = document.getElementById("live");
const announce = document.getElementById("announce");
const connection = document.getElementById("connection");

let inFlight = false;
let pending = false;
let lastRefresh = 0;
let stream = null;

function say(text) {
  connection.textContent = text;
  connection.hidden = text === "";
}

function swap(html) {
  const open = [...live.querySelectorAll("details[open]")].map((d) => d.id);
  const focused = document.activeElement && live.contains(document.activeElement)
    ? document.activeElement.getAttribute("data-open") : null;
  live.innerHTML = html;
  for (const id of open) {
    const details = document.getElementById(id);
    if (details) details.open = true;
  }
  if (focused) live.querySelector(`[data-open="${CSS.escape(focused)}"]`)?.focus();
  const part = live.querySelector(".live-part");
  if (!part) return;
  announce.textContent = part.dataset.summary;
  live.dataset.refreshed = String(Number(live.dataset.refreshed || 0) + 1);
  if (part.dataset.final === "true") finish();
}

async function refresh() {
  if (inFlight) { pending = true; return; }
  inFlight = true;
  const wait = lastRefresh + MIN_GAP - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  try {
    const response = await fetch(live.dataset.liveUrl + location.search, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
    if (response.status === 401) { stop("Your session ended: log in again to follow this job."); return; }
    if (!response.ok) { say(`Could not refresh (HTTP ${response.status}); retrying on the next event.`); return; }
    swap(await response.text());
  } catch (error) {
    say("Could not reach the controller; retrying on the next event.");
  } finally {
    lastRefresh = Date.now();
    inFlight = false;
    if (pending) { pending = false; refresh(); }
  }
}

function finish() {
  if (stream) { stream.close(); stream = null; }
  live.dataset.final = "true";
  say("");
}

function stop(text) {
  if (stream) { stream.close(); stream = null; }
  say(text);
}

function follow() {
  stream = new EventSource(live.dataset.eventsUrl, { withCredentials: true });
  stream.onopen = () => say("");
  for (const name of ["snapshot", "timeline"]) stream.addEventListener(name, refresh);
  // The stream ends after "final": close it, or EventSource would reconnect.
  stream.addEventListener("final", () => { stream.close(); stream = null; refresh(); });
  stream.onerror = () => {
    if (stream && stream.readyState === EventSource.CLOSED) stop("Live updates stopped: reload the page.");
    else if (stream) say("Reconnecting to live updates…");
  };
}

// A grid cell opens its agent's response.
live.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-open]");
  if (!link) return;
  const details = document.getElementById(link.dataset.open);
  if (details) details.open = true;
});

if (live.dataset.final !== "true") follow();
