// The livepeer node dashboard: polls the CLI API this page is served from and renders it.
// Plain JavaScript, no build step. Network data is only ever inserted as text.
"use strict";

/** How often /status is read, ms. */
const POLL_MS = 1500;
/** Chain reads (balances) are made every this many polls. */
const CHAIN_EVERY = 4;
/** Where the gateway's HLS is served on this port (see crates/node/src/dashboard.rs). */
const HLS_PREFIX = "/dashboard/hls";
/** A failed player is rebuilt after this long, ms. */
const PLAYER_RETRY_MS = 3000;

const players = new Map(); // manifest ID -> { box, video, state, hls, failedAt }
let polls = 0;
let chain = {}; // the last chain reads, by path

// ---- helpers ----------------------------------------------------------------------------

function $(id) {
  return document.getElementById(id);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** A wei amount (decimal text, "0x" hex text, or a JSON number) as a BigInt, or null. */
function toWei(v) {
  if (v === null || v === undefined || v === "") return null;
  try {
    if (typeof v === "number") return BigInt(Math.trunc(v));
    return BigInt(String(v).trim());
  } catch (_) {
    return null;
  }
}

/** wei as `<amount> <unit>` with up to 6 decimals (ETH, LPT: 18 decimals). */
function formatUnits(v, unit) {
  const wei = toWei(v);
  if (wei === null) return "—";
  const neg = wei < 0n;
  const abs = neg ? -wei : wei;
  const whole = abs / 10n ** 18n;
  let frac = (abs % 10n ** 18n).toString().padStart(18, "0").slice(0, 6).replace(/0+$/, "");
  if (frac === "" && abs !== 0n && whole === 0n) return `${neg ? "-" : ""}${abs} wei`;
  return `${neg ? "-" : ""}${whole}${frac ? "." + frac : ""} ${unit}`;
}

function fields(dl, rows) {
  dl.replaceChildren(
    ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v === undefined || v === null ? "—" : v)])
  );
}

function rowsOrEmpty(tbody, rows, columns, empty) {
  if (rows.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, empty)));
  } else {
    tbody.replaceChildren(...rows);
  }
}

function loadBar(used, capacity) {
  if (!(capacity > 0) || used === undefined || used === null) return "";
  const pct = Math.max(0, Math.min(100, (100 * used) / capacity));
  const bar = el("span", { class: "bar", title: `${used} of ${capacity}` }, el("i", {}));
  bar.firstChild.style.width = `${pct}%`;
  return bar;
}

/** JSON whose big integers (wei) stay exact: long numbers become strings before parsing. */
function parseExact(text) {
  return JSON.parse(text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

async function get(path, asJson) {
  const resp = await fetch(path, { cache: "no-store" });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${path}: ${resp.status} ${text.trim()}`);
  return asJson ? parseExact(text) : text.trim();
}

// ---- sections ---------------------------------------------------------------------------

function renderHeader(s) {
  const roles = [];
  if (s.orchestrator) roles.push("orchestrator");
  if (s.orchestrator && s.LocalTranscoding) roles.push("transcoder");
  if (s.gateway) roles.push("gateway");
  if (roles.length === 0) roles.push("node");
  $("roles").replaceChildren(...roles.map((r) => el("span", {}, r)));
  document.title = `livepeer ${roles.join(" + ")}`;
  const parts = [`network ${s.network}`, `livepeer-rs ${s.version}`];
  if (s.address) parts.push(s.address);
  $("identity").textContent = parts.join(" · ");
}

function renderAccount(s) {
  if (s.network === "offchain" || !s.address) {
    fields($("account-fields"), [
      ["Network", s.network],
      ["Account", "none (off-chain: no account, balances or payments)"],
    ]);
    return;
  }
  const rows = [
    ["Address", s.address],
    ["ETH balance", chain.eth === undefined ? "…" : formatUnits(chain.eth, "ETH")],
    ["LPT balance", chain.lpt === undefined ? "…" : formatUnits(chain.lpt, "LPT")],
  ];
  if (chain.sender) {
    rows.push(["Deposit", formatUnits(chain.sender.Deposit, "ETH")]);
    const reserve = chain.sender.Reserve || {};
    rows.push(["Reserve", formatUnits(reserve.FundsRemaining, "ETH")]);
  }
  if (chain.delegator) {
    rows.push(["Bonded", formatUnits(chain.delegator.BondedAmount, "LPT")]);
    if (s.orchestrator) rows.push(["Delegated stake", formatUnits(chain.delegator.DelegatedAmount, "LPT")]);
    rows.push(["Fees to withdraw", formatUnits(chain.delegator.Fees, "ETH")]);
  }
  if (chain.error) rows.push(["Chain", chain.error]);
  fields($("account-fields"), rows);
}

function renderOrchestrator(s) {
  const o = s.orchestrator;
  $("orchestrator").hidden = !o;
  if (!o) return;
  const p = o.payments;
  const rows = [
    ["Service URI", o.serviceUri],
    ["Sessions", o.sessions],
    ["Transcoding", s.LocalTranscoding ? "local" : "remote transcoders only"],
  ];
  if (p) {
    rows.push(
      ["Tickets received", p.ticketsReceived],
      ["Winning tickets", p.winners],
      ["Payments refused", p.paymentsRefused],
      ["Segments paid", p.segmentsPaid],
      ["Fees earned", formatUnits(p.feesWei, "ETH")]
    );
  } else {
    rows.push(["Payments", "off-chain (unpaid)"]);
  }
  fields($("orchestrator-fields"), rows);

  const rowsT = [];
  if (s.LocalTranscoding) {
    rowsT.push(el("tr", {}, el("td", {}, "local (this node)"), el("td", {}, "—"), el("td", {}, `${o.sessions} session${o.sessions === 1 ? "" : "s"}`)));
  }
  for (const t of s.RegisteredTranscoders || []) {
    const load = t.Load ?? t.load ?? t.InFlight ?? t.inFlight ?? t.Sessions ?? t.sessions;
    rowsT.push(
      el(
        "tr",
        {},
        el("td", {}, t.Address ?? t.address ?? "?"),
        el("td", {}, t.Capacity ?? t.capacity ?? "—"),
        el("td", {}, load === undefined ? "—" : load, loadBar(load, t.Capacity ?? t.capacity))
      )
    );
  }
  rowsOrEmpty($("transcoders").tBodies[0], rowsT, 3, "no transcoder registered");
}

function renderGateway(s) {
  const g = s.gateway;
  $("gateway").hidden = !g;
  $("streams").hidden = !g;
  if (!g) return;
  const streams = g.streams || [];
  const rows = [
    ["Live streams", g.liveStreams],
    ["Streams published", streams.length],
  ];
  const p = g.payments;
  if (p) {
    rows.push(
      ["Tickets sent", p.ticketsSent],
      ["Ticket value sent", formatUnits(p.evSentWei, "ETH")],
      ["Segments paid", p.segmentsPaid],
      ["Fees paid", formatUnits(p.feesWei, "ETH")]
    );
  } else {
    rows.push(["Payments", "off-chain (unpaid)"]);
  }
  fields($("gateway-fields"), rows);

  const by = g.segmentsByOrchestrator || {};
  const suspended = new Set(g.suspendedOrchestrators || []);
  const known = new Set([...(s.OrchestratorPool || []), ...Object.keys(by), ...suspended]);
  const rowsO = [...known].sort().map((uri) =>
    el(
      "tr",
      {},
      el("td", {}, uri),
      el("td", {}, by[uri] ?? 0),
      el("td", {}, suspended.has(uri) ? "suspended" : "available")
    )
  );
  rowsOrEmpty($("orchestrators").tBodies[0], rowsO, 3, "no orchestrator has transcoded yet");
  renderStreams(streams);
}

// ---- players ----------------------------------------------------------------------------

function playlistUrl(manifest) {
  return `${HLS_PREFIX}/stream/${encodeURIComponent(manifest)}.m3u8`;
}

function attach(p, manifest) {
  const video = p.video;
  const url = playlistUrl(manifest);
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ liveSyncDurationCount: 2, maxBufferLength: 12, backBufferLength: 30 });
    p.hls = hls;
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
      p.state.textContent = "loading…";
      video.play().catch((e) => (p.state.textContent = `press play (${e.name})`));
    });
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      p.state.textContent = `player error: ${data.type} ${data.details}`;
      if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        hls.destroy();
        p.hls = null;
        p.failedAt = Date.now();
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url; // native HLS (Safari)
    video.play().catch(() => {});
  } else {
    p.state.textContent = "this browser cannot play HLS";
  }
}

function newPlayer(manifest) {
  const video = el("video", { "data-manifest": manifest, controls: "", playsinline: "" });
  video.muted = true; // browsers autoplay muted video only
  video.autoplay = true;
  const badge = el("span", { class: "badge" });
  const info = el("div", { class: "muted" });
  const state = el("div", { class: "player-state" }, "starting…");
  const box = el(
    "div",
    { class: "stream", "data-manifest": manifest },
    el("h3", {}, manifest, badge),
    video,
    state,
    info
  );
  const p = { box, video, state, badge, info, hls: null, failedAt: 0 };
  for (const ev of ["playing", "timeupdate"]) {
    video.addEventListener(ev, () => {
      p.state.textContent = `playing · ${video.currentTime.toFixed(1)} s`;
    });
  }
  video.addEventListener("waiting", () => (p.state.textContent = "buffering…"));
  video.addEventListener("ended", () => (p.state.textContent = "ended"));
  attach(p, manifest);
  return p;
}

function renderStreams(streams) {
  $("no-streams").hidden = streams.length > 0;
  const seen = new Set();
  const list = $("stream-list");
  for (const st of streams) {
    seen.add(st.manifestId);
    let p = players.get(st.manifestId);
    if (!p) {
      p = newPlayer(st.manifestId);
      players.set(st.manifestId, p);
      list.append(p.box);
    } else if (!p.hls && p.failedAt && Date.now() - p.failedAt > PLAYER_RETRY_MS) {
      p.failedAt = 0;
      attach(p, st.manifestId);
    }
    p.badge.className = `badge ${st.live ? "live" : "vod"}`;
    p.badge.textContent = st.live ? "LIVE" : "VOD";
    const secs = (st.durationMs / 1000).toFixed(1);
    p.info.textContent =
      `${st.segments} segments (${secs} s) held · last #${st.lastSeq ?? "—"} · ` +
      `tracks ${st.tracks.join(", ")}`;
  }
  for (const [manifest, p] of players) {
    if (seen.has(manifest)) continue;
    if (p.hls) p.hls.destroy();
    p.box.remove();
    players.delete(manifest);
  }
}

// ---- polling ----------------------------------------------------------------------------

async function readChain(s) {
  if (s.network === "offchain" || !s.address) return;
  const next = {};
  const errors = [];
  const reads = [
    ["eth", "/ethBalance", false],
    ["lpt", "/tokenBalance", false],
    ["sender", "/senderInfo", true],
    ["delegator", "/delegatorInfo", true],
  ];
  await Promise.all(
    reads.map(async ([key, path, json]) => {
      try {
        next[key] = await get(path, json);
      } catch (e) {
        errors.push(e.message);
      }
    })
  );
  if (errors.length) next.error = errors.join("; ");
  chain = next;
}

async function poll() {
  try {
    const s = await get("/status", true);
    if (polls % CHAIN_EVERY === 0) await readChain(s);
    polls++;
    renderHeader(s);
    renderAccount(s);
    renderOrchestrator(s);
    renderGateway(s);
    $("error").hidden = true;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = `cannot read the node's status: ${e.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
