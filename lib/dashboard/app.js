// Herald's dashboard: polls heraldd's JSON routes and draws what they say. The queue, workers
// and providers come from GET /api/v1.1/overview each second; with a token (kept in this tab's
// sessionStorage), the account's newest tasks from GET /api/v1.1/tasks/list every few seconds,
// the unfinished ones' progress from GET /tasks/status each second, and a task's item outcomes
// from POST /api/v1.1/tasks/items when it is clicked. No library, no inline script (the page's
// Content-Security-Policy forbids it), and data only ever reaches the page as text.
"use strict";

(() => {
  const TOKEN_KEY = "herald.token";
  const OVERVIEW_MS = 1000;
  const LIST_MS = 5000;
  const STATUS_MS = 1000;
  const TASKS_SHOWN = 20;
  const ITEMS_PAGE = 50;

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let statusFilter = "";
  const tasks = new Map(); // task_id -> {data, row}
  let listTimer = 0;
  let statusBusy = false;
  let lastOverviewAt = 0;

  // --- requests ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.error_debug || body.error_text)) || "HTTP " + status);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (options.auth && token) headers.Authorization = "Bearer " + token;
    const init = { method: options.method || "GET", headers, cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const res = await fetch(path, init);
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok || !body || body.error !== 0) throw new ApiError(res.status, body);
    return body;
  }

  // --- small helpers ----------------------------------------------------------------------

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "–";
  }

  function ago(iso) {
    if (!iso) return "";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function duration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function replaceChildren(parent, children) {
    parent.replaceChildren(...children);
  }

  const FINAL = new Set(["completed", "failed", "cancelled"]);

  // --- overview ---------------------------------------------------------------------------

  function drawOverview(d) {
    const q = d.queue;
    $("q-waiting").textContent = fmt(q.waiting === null ? q.length : q.waiting);
    $("q-pending").textContent = fmt(q.pending);
    $("q-delayed").textContent = fmt(q.delayed);
    $("dead-count").textContent = fmt(q.dead);
    $("dead-card").classList.toggle("has", q.dead > 0);

    $("consumer-count").textContent = d.consumers.length ? "(" + d.consumers.length + ")" : "";
    const consumers = d.consumers.map((c) => {
      const li = el("li");
      li.append(el("span", "name", c.name));
      li.append(el("span", "meta", c.idle_ms < 60000 ? "active" : "idle " + duration(c.idle_ms)));
      li.append(el("span", "right", fmt(c.pending) + " running"));
      return li;
    });
    if (!consumers.length) consumers.push(el("li", "empty", "No heraldd is reading the queue."));
    replaceChildren($("consumers"), consumers);

    const providers = d.providers.map((p) => {
      const li = el("li");
      li.append(el("span", "name", p.name));
      li.append(el("span", "badge " + p.state, p.state.replace("_", " ")));
      li.append(el("span", "meta", p.kind + " · " + p.instance));
      const rate = p.rate_per_s > 0 ? fmt(p.rate_per_s) + "/s · " : "";
      li.append(el("span", "right", rate + fmt(p.sent) + " sent · " + fmt(p.failed) + " failed"));
      if (p.retries) li.append(el("span", "meta", fmt(p.retries) + " retries"));
      if (p.recent_errors && p.recent_errors.length) {
        li.append(el("span", "errors", p.recent_errors[p.recent_errors.length - 1]));
      }
      return li;
    });
    if (!providers.length) {
      providers.push(el("li", "empty", "No provider has reported in the last 10 s."));
    }
    replaceChildren($("providers"), providers);
  }

  function markLive(ok) {
    const live = $("live");
    live.classList.toggle("ok", ok);
    live.classList.toggle("stale", !ok);
    if (ok) lastOverviewAt = Date.now();
    $("updated").textContent = ok
      ? "live"
      : lastOverviewAt
        ? "no answer for " + duration(Date.now() - lastOverviewAt)
        : "heraldd does not answer";
  }

  async function pollOverview() {
    try {
      const body = await api("/api/v1.1/overview", { auth: true });
      drawOverview(body.data);
      markLive(true);
    } catch (e) {
      if (e.status === 401 && token) signOut("That token is no longer accepted.");
      markLive(false);
    }
    setTimeout(pollOverview, OVERVIEW_MS);
  }

  // --- tasks ------------------------------------------------------------------------------

  function taskRow(id) {
    const li = el("li");
    li.tabIndex = 0;
    li.dataset.taskId = id;
    const line = el("div", "task-line");
    const status = el("span", "badge");
    line.append(status, el("span", "id", id), el("span", "type"));
    const barLine = el("div", "bar-line");
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const pct = el("span", "pct");
    barLine.append(bar, pct);
    const figures = el("div", "task-figures");
    const error = el("div", "task-error");
    error.hidden = true;
    li.append(line, barLine, figures, error);
    li.addEventListener("click", () => openItems(id));
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        openItems(id);
      }
    });
    return { li, status, type: line.lastChild, bar, pct, figures, error };
  }

  function drawTask(entry) {
    const t = entry.data;
    const r = entry.row;
    r.status.className = "badge " + t.status;
    r.status.textContent = t.status;
    r.type.textContent = t.type;
    // The bar counts items (finer than the percentage) once the task knows how many it has.
    r.bar.max = t.total > 0 ? t.total : 100;
    r.bar.value = t.total > 0 ? Math.min(t.processed, t.total) : t.progress;
    r.bar.className = t.status;
    r.bar.setAttribute("aria-label", t.task_id + ": " + t.progress + "%");
    r.pct.textContent = t.progress + "%";
    const parts = [fmt(t.processed) + " / " + fmt(t.total) + " items"];
    if (t.sent) parts.push(fmt(t.sent) + " sent");
    if (t.scheduled) parts.push(fmt(t.scheduled) + " scheduled");
    if (t.skipped) parts.push(fmt(t.skipped) + " skipped");
    if (t.failed) parts.push(fmt(t.failed) + " failed");
    if (t.started_at) {
      const end = t.finished_at ? Date.parse(t.finished_at) : Date.now();
      parts.push((t.finished_at ? "took " : "running ") + duration(end - Date.parse(t.started_at)));
    }
    parts.push("created " + ago(t.created_at));
    replaceChildren(r.figures, parts.map((p) => el("span", null, p)));
    const failure = t.result && t.result.error ? t.result.error_text : "";
    r.error.hidden = !failure;
    r.error.textContent = failure;
  }

  function drawTaskList(list) {
    const keep = new Set();
    const rows = [];
    for (const t of list.tasks) {
      keep.add(t.task_id);
      let entry = tasks.get(t.task_id);
      if (!entry) {
        entry = { data: t, row: taskRow(t.task_id) };
        tasks.set(t.task_id, entry);
      } else {
        entry.data = Object.assign(entry.data, t);
      }
      drawTask(entry);
      rows.push(entry.row.li);
    }
    for (const id of [...tasks.keys()]) if (!keep.has(id)) tasks.delete(id);
    if (!rows.length) {
      rows.push(el("li", "empty", statusFilter ? "No such tasks." : "This account has no tasks yet."));
    }
    replaceChildren($("tasks"), rows);
    const total = list.total_exact ? fmt(list.total) : "over " + fmt(list.total);
    $("task-count").textContent = list.total > list.tasks.length
      ? "(newest " + list.tasks.length + " of " + total + ")"
      : "(" + list.total + ")";
  }

  async function pollList() {
    clearTimeout(listTimer);
    if (!token) return;
    const query = new URLSearchParams({ limit: String(TASKS_SHOWN) });
    if (statusFilter) query.set("status", statusFilter);
    try {
      const body = await api("/api/v1.1/tasks/list?" + query, { auth: true });
      if (token) drawTaskList(body.data);
    } catch (e) {
      if (e.status === 401) {
        signOut("That token is not accepted.");
        return;
      }
    }
    if (token) listTimer = setTimeout(pollList, LIST_MS);
  }

  // Unfinished tasks move: their status each second, a few at a time.
  async function pollStatuses() {
    if (token && !statusBusy) {
      statusBusy = true;
      const running = [...tasks.values()].filter((e) => !FINAL.has(e.data.status)).slice(0, 10);
      await Promise.all(
        running.map(async (entry) => {
          try {
            const q = new URLSearchParams({ task_id: entry.data.task_id });
            const body = await api("/tasks/status?" + q, { auth: true });
            if (tasks.get(entry.data.task_id) !== entry) return;
            const d = body.data;
            delete d.result.result; // the profile list: not shown here
            entry.data = Object.assign(entry.data, d);
            drawTask(entry);
          } catch (e) {
            // Expired meanwhile, or heraldd away: the next listing says.
          }
        }),
      );
      statusBusy = false;
      // The others' "created ... ago" moves on too.
      for (const entry of tasks.values()) if (FINAL.has(entry.data.status)) drawTask(entry);
    }
    setTimeout(pollStatuses, STATUS_MS);
  }

  // --- item outcomes ----------------------------------------------------------------------

  const items = { taskId: "", offset: 0, total: 0 };

  async function loadItems() {
    const list = $("items");
    try {
      const body = await api("/api/v1.1/tasks/items", {
        method: "POST",
        auth: true,
        body: { task_id: items.taskId, offset: items.offset, limit: ITEMS_PAGE },
      });
      const d = body.data;
      items.total = d.total;
      const rows = d.items.map((it) => {
        const li = el("li");
        li.append(el("span", "index", "#" + it.index));
        // An import's items say what happened to the profile: created, updated, unchanged.
        const label =
          it.outcome === "processed" && it.code ? it.code : it.outcome + (it.code ? ": " + it.code : "");
        li.append(el("span", "badge " + it.outcome, label));
        li.append(el("span", "profile", it.profile_id || ""));
        if (it.message) li.append(el("span", "message", it.message));
        return li;
      });
      if (!rows.length) {
        rows.push(
          el("li", "empty", items.offset ? "No more outcomes." : "No item outcomes recorded for this task."),
        );
      }
      replaceChildren(list, rows);
      const last = Math.min(items.offset + ITEMS_PAGE, d.total);
      $("items-page").textContent =
        d.total > 0 ? "items " + (items.offset + 1) + "–" + last + " of " + fmt(d.total) : "";
      $("items-prev").disabled = items.offset === 0;
      $("items-next").disabled = items.offset + ITEMS_PAGE >= d.total;
    } catch (e) {
      replaceChildren(list, [el("li", "error", e.message)]);
    }
  }

  function openItems(id) {
    items.taskId = id;
    items.offset = 0;
    const entry = tasks.get(id);
    $("items-title").textContent = "Items";
    $("items-sub").textContent = id + (entry ? " · " + entry.data.type + " · " + entry.data.status : "");
    replaceChildren($("items"), [el("li", "empty", "Loading…")]);
    const dialog = $("items-dialog");
    if (!dialog.open) dialog.showModal();
    loadItems();
  }

  // --- token ------------------------------------------------------------------------------

  function showSignedIn() {
    const signedIn = !!token;
    $("token-form").hidden = signedIn;
    $("task-tools").hidden = !signedIn;
    $("tasks").hidden = !signedIn;
    if (!signedIn) $("task-count").textContent = "";
  }

  function signOut(why) {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    tasks.clear();
    replaceChildren($("tasks"), []);
    clearTimeout(listTimer);
    showSignedIn();
    const error = $("token-error");
    error.hidden = !why;
    error.textContent = why || "";
  }

  function init() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      token = value;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token").value = "";
      $("token-error").hidden = true;
      showSignedIn();
      pollList();
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("status-filter").addEventListener("change", (ev) => {
      statusFilter = ev.target.value;
      pollList();
    });
    $("items-close").addEventListener("click", () => $("items-dialog").close());
    $("items-prev").addEventListener("click", () => {
      items.offset = Math.max(0, items.offset - ITEMS_PAGE);
      loadItems();
    });
    $("items-next").addEventListener("click", () => {
      items.offset += ITEMS_PAGE;
      loadItems();
    });
    showSignedIn();
    pollOverview();
    pollStatuses();
    if (token) pollList();
  }

  init();
})();
