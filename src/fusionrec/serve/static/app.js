"use strict";
// The fusionrec page: a thin client of the serving API on the same origin (see docs/web.md).
// Every string from the API reaches the DOM through textContent or an attribute, never as
// HTML, so titles and metadata cannot inject markup.

const SIMILAR_WAYS = ["behaviour", "text", "image", "audio", "fused"];
const USERS_PAGE = 50;
const MAX_K = 50;
const $ = (id) => document.getElementById(id);
const state = { usersLoaded: 0, usersTotal: 0, itemId: null, opener: null };
const tickets = {};

/** A new element: props are DOM properties where the element has them, else attributes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** JSON from the API; a failed request throws an Error carrying the API's `detail`. */
async function api(path, body) {
  const init = { headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new Error(`The server cannot be reached (${err.message}).`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(errorText(data, response));
  return data;
}

function errorText(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: ["query", "k"], msg: "..."}]
    return detail
      .map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`)
      .join("; ");
  }
  return `${response.status} ${response.statusText}`.trim();
}

/**
 * Runs `work` with a loading state in the status line `statusId`; its result (a message) or
 * its error replaces it, and an error also empties the list `listId` so no stale results
 * stay under it. A newer call for the same status line makes older results stale, so a
 * slow answer never overwrites a newer one.
 */
async function load(statusId, work, listId = null) {
  const status = $(statusId);
  const ticket = (tickets[statusId] = (tickets[statusId] || 0) + 1);
  const current = () => tickets[statusId] === ticket;
  status.className = "status loading";
  status.textContent = "Loading…";
  try {
    const message = await work(current);
    if (!current()) return;
    status.className = "status";
    status.textContent = message || "";
  } catch (err) {
    if (!current()) return;
    status.className = "status error";
    status.textContent = err.message;
    if (listId) $(listId).replaceChildren();
  }
}

const label = (item) => item.title || item.item_id;
const percent = (p) => `${Math.round(100 * p)}%`;

function listText(words) {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

function placeholder(title, broken = false) {
  const box = el("div", { className: "poster placeholder", role: "img", "aria-label": title });
  if (broken) box.dataset.broken = "true";
  box.append(el("span", { textContent: "No image", "aria-hidden": "true" }));
  return box;
}

function poster(title, url) {
  if (!url) return placeholder(title);
  const img = el("img", { className: "poster", src: url, alt: title});
  img.addEventListener("error", () => img.replaceWith(placeholder(title, true)), { once: true });
  return img;
}

function card(item) {
  const title = label(item);
  const button = el(
    "button",
    { type: "button", className: "card" },
    poster(title, item.image_url),
    el("span", { className: "title", textContent: title }),
    el("span", { className: "score", textContent: `${item.item_id} · score ${Number(item.score).toFixed(3)}` }),
  );
  const because = (item.because || []).slice(0, 3).map(label);
  if (because.length) {
    button.append(el("span", { className: "because", textContent: `Because you liked ${listText(because)}` }));
  }
  button.addEventListener("click", () => openItem(item.item_id, button));
  return el("li", {}, button);
}

function showCards(listId, items) {
  $(listId).replaceChildren(...items.map(card));
  return items.length ? "" : "Nothing to show.";
}

// How much variety the lists trade score for (the API's diversify) and what makes items
// alike (diversify_by): ratings, or one of the bundle's views.
function variety() {
  const weight = Number.parseFloat($("rec-variety").value);
  return { diversify: Number.isFinite(weight) ? weight : 0, diversify_by: $("rec-alike").value || "ratings" };
}

function k() {
  const value = Number.parseInt($("rec-k").value, 10);
  return Math.min(MAX_K, Math.max(1, Number.isFinite(value) ? value : 10));
}

// ---- start-up -------------------------------------------------------------------------

async function init() {
  wire();
  await load("recs-status", async () => {
    const meta = await api("metadata");
    showMetadata(meta);
    await loadUsers();
  });
}

function showMetadata(meta) {
  // The run's recall and NDCG at its smallest cut-off; a metric is {mean, std} over seeds.
  const mean = (v) => (typeof v === "number" ? v : v && typeof v.mean === "number" ? v.mean : null);
  const cutoff = (name) => Number(name.split("@")[1]);
  const metrics = ["recall", "ndcg"].flatMap((kind) => {
    const names = Object.keys(meta.metrics || {})
      .filter((name) => name.startsWith(`${kind}@`) && mean(meta.metrics[name]) !== null)
      .sort((a, b) => cutoff(a) - cutoff(b));
    return names.length ? [`${names[0]} ${mean(meta.metrics[names[0]]).toFixed(3)}`] : [];
  });
  const parts = [
    `Dataset ${meta.dataset}`,
    `model ${meta.model}`,
    `${meta.n_users} users`,
    `${meta.n_items} items`,
    ...metrics,
  ];
  $("meta").textContent = parts.join(" · ");
  // The views this bundle compares items in (none for an item-item model such as EASE).
  const ways = Array.isArray(meta.views) ? meta.views.filter((v) => SIMILAR_WAYS.includes(v)) : SIMILAR_WAYS;
  $("similar-by").replaceChildren(...ways.map((v) => el("option", { value: v, textContent: v })));
  $("similar-by").disabled = !ways.length;
  if (ways.includes("fused")) $("similar-by").value = "fused";
  $("rec-alike").replaceChildren(...["ratings", ...ways].map((v) => el("option", { value: v, textContent: v })));
  if (Array.isArray(meta.search_ways)) {
    // Only the ways this bundle's search index has (older servers do not say: keep all).
    for (const option of [...$("search-by").options]) {
      if (!meta.search_ways.includes(option.value)) option.remove();
    }
  }
  unavailable("search-form", "search-status", meta.search, "Search is not available for this model.");
  unavailable("sentiment-form", "sentiment-status", meta.sentiment, "Sentiment is not available on this server.");
}

function unavailable(formId, statusId, available, message) {
  if (available) return;
  for (const field of $(formId).elements) field.disabled = true;
  $(statusId).textContent = message;
}

async function loadUsers() {
  const page = await api(`users?limit=${USERS_PAGE}&offset=${state.usersLoaded}`);
  $("user-select").append(...page.user_ids.map((id) => el("option", { value: id, textContent: id })));
  state.usersLoaded += page.user_ids.length;
  state.usersTotal = page.total;
  $("more-users").hidden = state.usersLoaded >= state.usersTotal;
  return `${state.usersLoaded} of ${state.usersTotal} users listed.`;
}

// ---- actions --------------------------------------------------------------------------

function wire() {
  $("more-users").addEventListener("click", () => load("recs-status", loadUsers));
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = $("user-select").value;
    const query = new URLSearchParams({ k: k(), exclude_seen: $("exclude-seen").checked, ...variety() });
    load("recs-status", async (current) => {
      const data = await api(`users/${encodeURIComponent(user)}/recommendations?${query}`);
      if (!current()) return "";
      return showCards("recs", data.items) || `Top ${data.items.length} for user ${data.user_id}.`;
    }, "recs");
  });
  $("prefs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("pref-text").value.trim();
    const liked = $("pref-items").value.split(/[\s,]+/).filter(Boolean);
    load("recs-status", async (current) => {
      if (!text && !liked.length) throw new Error("Describe what you like or give liked item ids.");
      const body = { k: k(), ...variety() };
      if (liked.length) body.liked_item_ids = liked;
      if (text) body.text = text;
      const data = await api("recommendations", body);
      if (!current()) return "";
      return showCards("recs", data.items) || `Top ${data.items.length} for what you like.`;
    }, "recs");
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ q: $("search-q").value, by: $("search-by").value, k: k() });
    load("search-status", async (current) => {
      const data = await api(`search?${query}`);
      if (!current()) return "";
      return showCards("search-results", data.items) || `${data.items.length} results.`;
    }, "search-results");
  });
  $("similar-by").addEventListener("change", loadSimilar);
  $("rec-variety").addEventListener("input", () => {
    $("rec-variety-value").textContent = $("rec-variety").value;
  });
  $("close-item").addEventListener("click", closeItem);
  $("item-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeItem();
  });
  $("like-item").addEventListener("click", likeItem);
  $("sentiment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { text: $("review").value };
    const item = $("review-item").value.trim();
    if (item) body.item_id = item;
    load("sentiment-status", async () => {
      $("sentiment-result").hidden = true;
      showSentiment(await api("sentiment", body));
      return "";
    });
  });
}

function openItem(itemId, opener) {
  state.itemId = itemId;
  state.opener = opener || null;
  const panel = $("item-panel");
  panel.hidden = false;
  $("item-title").textContent = itemId;
  $("item-poster").replaceChildren();
  $("item-fields").replaceChildren();
  $("similar").replaceChildren();
  $("item-title").focus();
  panel.scrollIntoView({ block: "start" });
  load("item-status", async (current) => {
    const item = await api(`items/${encodeURIComponent(itemId)}`);
    if (!current()) return "";
    $("item-title").textContent = label(item);
    $("item-poster").replaceChildren(poster(label(item), item.image_url));
    $("item-fields").replaceChildren(
      ...Object.entries(item.fields || {}).flatMap(([name, value]) => [
        el("dt", { textContent: name }),
        el("dd", { textContent: fieldText(value) }),
      ]),
    );
    return "";
  });
  loadSimilar();
}

function fieldText(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join(", ");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function loadSimilar() {
  const itemId = state.itemId;
  const by = $("similar-by").value;
  if (!by) {
    $("similar-status").className = "status";
    $("similar-status").textContent = "This model has no item vectors to compare items by.";
    return;
  }
  load("similar-status", async (current) => {
    const data = await api(`items/${encodeURIComponent(itemId)}/similar?by=${encodeURIComponent(by)}&k=${k()}`);
    if (!current()) return "";
    return showCards("similar", data.items);
  }, "similar");
}

function closeItem() {
  $("item-panel").hidden = true;
  if (state.opener && state.opener.isConnected) state.opener.focus();
}

function likeItem() {
  const field = $("pref-items");
  const liked = field.value.split(/[\s,]+/).filter(Boolean);
  if (!liked.includes(state.itemId)) liked.push(state.itemId);
  field.value = liked.join(", ");
  $("item-status").className = "status";
  $("item-status").textContent = `Added ${state.itemId} to your liked items; press Recommend under "Or say what you like".`;
}

function showSentiment(result) {
  const out = $("sentiment-result");
  const parts = [el("strong", { className: "sentiment-label", textContent: result.label }), ` (${percent(result.probability)})`];
  if (typeof result.stars === "number") {
    const full = Math.max(0, Math.min(5, Math.round(result.stars)));
    parts.push(
      " ",
      el("span", {
        className: "stars",
        role: "img",
        "aria-label": `${result.stars.toFixed(1)} out of 5 stars`,
        textContent: "★".repeat(full) + "☆".repeat(5 - full),
      }),
      ` ${result.stars.toFixed(1)} / 5`,
    );
  }
  const spread = Object.entries(result.probabilities || {}).map(([name, p]) => `${name} ${percent(p)}`);
  if (spread.length) parts.push(el("span", { className: "spread", textContent: spread.join(" · ") }));
  out.replaceChildren(...parts);
  out.hidden = false;
}

document.addEventListener("DOMContentLoaded", init);
