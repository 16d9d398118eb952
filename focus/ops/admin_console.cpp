#include "focus/ops/admin_console.hpp"

namespace chorus::focus {
namespace {

// The page talks to the admin API with `Authorization: Bearer <token>` (the
// token is typed once and kept in sessionStorage, so it dies with the tab)
// and follows /api/events over a WebSocket. Browsers cannot set headers
// there, so it first asks POST /api/events/ticket for a one-use ticket and
// opens ?ticket=: the token itself never goes into a URL, where proxy logs
// would keep it. A 401 or 403 stops the reconnecting and asks for the token
// again (retrying a wrong one would lock the address out); network errors
// and 5xx are retried with backoff. All peer-supplied text is inserted with
// textContent.
constexpr std::string_view kPage = R"chorus(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus console</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --line:#d9dde3; --text:#1d2430; --dim:#667085;
          --accent:#2f6fde; --bad:#c62828; --good:#2e7d32; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:12px; align-items:center; padding:10px 16px; background:#1d2430; color:#fff; }
  header h1 { font-size:16px; margin:0 12px 0 0; }
  header input { padding:4px 6px; border-radius:4px; border:1px solid #555; width:220px; }
  #status { margin-left:auto; font-size:12px; }
  #status.ok::before { content:"\25CF  "; color:#6fdc8c; }
  #status.down::before { content:"\25CF  "; color:#ff7b7b; }
  main { padding:16px; display:grid; gap:16px; }
  .room { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .room h2 { font-size:15px; margin:0 0 2px; }
  .room .entity { color:var(--dim); font-size:12px; }
  table { width:100%; border-collapse:collapse; margin-top:10px; }
  th, td { text-align:left; padding:5px 6px; border-bottom:1px solid var(--line); vertical-align:middle; }
  th { font-size:12px; color:var(--dim); font-weight:600; }
  .talk { display:inline-block; width:10px; height:10px; border-radius:50%; background:#ccd1d9; }
  .talk.on { background:var(--good); box-shadow:0 0 6px var(--good); }
  .meter { width:90px; height:8px; background:#e4e7ec; border-radius:4px; overflow:hidden; }
  .meter > div { height:100%; width:0; background:linear-gradient(90deg,#4caf50,#ffc107 75%,#f44336); transition:width .15s; }
  button, select { font:inherit; padding:3px 8px; border-radius:4px; border:1px solid var(--line); background:#fff; cursor:pointer; }
  button:hover { border-color:var(--accent); }
  button.danger { color:var(--bad); }
  .muted-tag { color:var(--bad); font-weight:600; }
  .dial { display:flex; gap:6px; margin-top:10px; }
  .dial input { flex:1; padding:4px 6px; border:1px solid var(--line); border-radius:4px; }
  #message { min-height:1.4em; padding:0 16px; color:var(--bad); }
  .empty { color:var(--dim); padding:24px 16px; }
  .move input { width:90px; padding:3px 5px; border:1px solid var(--line); border-radius:4px; }
  .move input.move-pin { width:60px; }
  .sidebars { margin-top:10px; display:grid; gap:6px; }
  .sidebars h3 { font-size:13px; margin:0; color:var(--dim); }
  .sidebar { display:flex; flex-wrap:wrap; gap:6px; align-items:center; padding:5px 8px; border:1px dashed var(--line); border-radius:6px; }
  .sidebar .sb-id, .sidebar .sb-whisper { color:var(--dim); font-size:12px; }
  .chip { display:inline-flex; gap:4px; align-items:center; padding:1px 4px 1px 8px; background:#eef2f8; border-radius:10px; }
  .chip button { padding:0 5px; border:none; background:none; }
  .sidebar-new { display:flex; gap:6px; align-items:center; }
  .sidebar-new input[type=text] { padding:4px 6px; border:1px solid var(--line); border-radius:4px; }
  .sidebar-new input.sidebar-gain { width:70px; padding:3px 5px; border:1px solid var(--line); border-radius:4px; }
  .sidebar-new select[multiple] { min-width:140px; }
  .room-moves { margin-top:10px; display:grid; gap:6px; }
  .room-moves > div { display:flex; flex-wrap:wrap; gap:6px; align-items:center; }
  .room-moves input[type=text] { width:90px; padding:3px 5px; border:1px solid var(--line); border-radius:4px; }
  .room-moves input.merge-pin, .room-moves input.split-pin { width:60px; }
  #report { padding:0 16px; color:var(--text); }
  #report:empty { display:none; }
  #report .report-stayed { color:var(--dim); }
</style>
</head>
<body>
<header>
  <h1>Chorus</h1>
  <label for="token">Token</label>
  <input id="token" type="password" autocomplete="off" placeholder="admin token">
  <button id="use-token" type="button">Connect</button>
  <span id="status" class="down">disconnected</span>
</header>
<div id="message" role="status"></div>
<div id="report" role="status"></div>
<main id="rooms"><div class="empty">No rooms.</div></main>
<script>
"use strict";
const state = { rooms: new Map(), ws: null, retry: 500, timer: null };
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("chorus-token") || "";

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function say(text) { $("message").textContent = text || ""; }
function setStatus(ok, text) { const s = $("status"); s.className = ok ? "ok" : "down"; s.textContent = text; }

async function api(method, path, body) {
  const init = { method, headers: { "Authorization": "Bearer " + token() } };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  if (!res.ok) {
    const error = new Error((data && data.error) || ("HTTP " + res.status));
    error.status = res.status;
    throw error;
  }
  return data;
}

// 401/403: the token is wrong or was rotated. Asking again with it would
// only count toward this address's lockout (every operator's, behind a
// proxy), so stop and ask for the token. Network errors and 5xx retry.
function refused(e) { return e.status === 401 || e.status === 403; }
// `used`: the token the refused request carried. A refusal of a token the
// user has replaced meanwhile says nothing about the new one.
function askForToken(e, used) {
  if (used !== token()) return;
  clearTimeout(state.timer);
  state.retry = 500;
  $("token").focus();
  if (e.status === 401) {
    sessionStorage.removeItem("chorus-token");
    setStatus(false, "enter the admin token");
    say("Token refused (" + e.message + "): enter the admin token again.");
    return;
  }
  // 403: the token lacks a right, or the request was refused as cross-site
  // (a proxy that rewrites Host needs admin.hosts): the API says which.
  setStatus(false, "refused");
  say("Refused: " + e.message);
}

// Shows the API's error text; true when the request succeeded.
async function act(method, path, body) {
  try { await api(method, path, body); say(""); return true; }
  catch (e) { say(e.message); return false; }
}

function roomPath(room) { return "/api/rooms/" + encodeURIComponent(room); }
function memberName(m) { return m.display || m.entity || String(m.id); }

function memberPath(room, id, action) {
  return "/api/rooms/" + encodeURIComponent(room) + "/members/" + id + "/" + action;
}

function levelPercent(dbov) {
  // -60 dBov and below: empty meter; 0 dBov: full.
  const v = Math.max(-60, Math.min(0, Number(dbov)));
  return Math.round((v + 60) / 60 * 100);
}

function memberRow(room, m, members) {
  const roleSelect = el("select", { class: "role", "aria-label": "role" });
  for (const r of ["participant", "monitor", "whisper", "barge"]) {
    const o = el("option", { value: r, text: r });
    if (r === m.role) o.selected = true;
    roleSelect.append(o);
  }
  const targetSelect = el("select", { class: "target", "aria-label": "whisper target" });
  for (const other of members) {
    if (other.id === m.id) continue;
    const o = el("option", { value: String(other.id), text: other.display || other.entity || String(other.id) });
    if (other.id === m.whisper_target_id) o.selected = true;
    targetSelect.append(o);
  }
  const setRole = () => {
    const body = { role: roleSelect.value };
    if (roleSelect.value === "whisper") body.target = Number(targetSelect.value);
    act("POST", memberPath(room.room, m.id, "role"), body);
  };
  const name = m.display ? m.display + " " : "";
  const sidebar = (room.sidebars || []).find((s) => s.id === m.sidebar);
  // Move: the target room typed in, a PIN only when that room asks for one.
  const keep = room.room + ":" + m.id;
  const moveTo = el("input", { type: "text", class: "move-to", placeholder: "room", "aria-label": "move to room", "data-keep": "move-to:" + keep });
  const movePin = el("input", { type: "text", class: "move-pin", placeholder: "PIN", "aria-label": "PIN of that room", "data-keep": "move-pin:" + keep });
  const move = () => {
    const to = moveTo.value.trim();
    if (!to) { say("type the room to move this member to"); return; }
    const body = { to };
    if (movePin.value) body.pin = movePin.value;
    act("POST", memberPath(room.room, m.id, "move"), body);
  };
  return el("tr", { "data-room": room.room, "data-member-id": String(m.id), class: "member" },
    el("td", {}, el("span", { class: "talk" + (m.talking ? " on" : ""), id: "talk-" + m.id, title: "talking" })),
    el("td", { class: "name" }, el("strong", { text: name }), el("span", { class: "entity", text: m.entity })),
    el("td", { class: "status", text: m.status }),
    el("td", { class: "in-sidebar", "data-sidebar-id": String(m.sidebar || 0),
               text: sidebar ? sidebar.name + " #" + sidebar.id : (m.sidebar ? "#" + m.sidebar : "") }),
    el("td", { class: "codec", text: m.codec ? m.codec + "/" + m.clock_rate : "" }),
    el("td", {}, el("div", { class: "meter", title: m.level + " dBov" },
                    el("div", { id: "level-" + m.id, style: "width:" + levelPercent(m.level) + "%" }))),
    el("td", { class: "loss", text: (100 * (m.loss || 0)).toFixed(1) + "%" }),
    el("td", { class: "jitter", text: (m.jitter || 0).toFixed(1) + " ms" }),
    el("td", {}, m.muted ? el("span", { class: "muted-tag", text: "muted" }) : null,
                 m.hold ? el("span", { class: "muted-tag", text: " held" }) : null),
    el("td", {},
      el("button", { type: "button", class: m.muted ? "unmute" : "mute", text: m.muted ? "Unmute" : "Mute",
                     onclick: () => act("POST", memberPath(room.room, m.id, "mute"), { muted: !m.muted }) }), " ",
      el("button", { type: "button", class: "hold", text: m.hold ? "Resume" : "Hold",
                     onclick: () => act("POST", memberPath(room.room, m.id, "hold"), { hold: !m.hold }) }), " ",
      roleSelect, " ", targetSelect, " ",
      el("button", { type: "button", class: "set-role", text: "Set role", onclick: setRole }), " ",
      // A waiting caller is not in the room yet: it cannot move.
      m.waiting ? null : el("span", { class: "move" }, moveTo, " ", movePin, " ",
        el("button", { type: "button", class: "move-button", text: "Move", onclick: move })), " ",
      el("button", { type: "button", class: "kick danger", text: "Kick",
                     onclick: () => { if (confirm("Remove this member from " + room.room + "?")) act("POST", memberPath(room.room, m.id, "kick")); } }),
      ...(m.waiting ? [" ",
        el("button", { type: "button", class: "admit", text: "Admit",
                       onclick: () => act("POST", memberPath(room.room, m.id, "admit")) }), " ",
        el("button", { type: "button", class: "refuse danger", text: "Refuse",
                       onclick: () => act("POST", memberPath(room.room, m.id, "refuse")) }), " ",
        el("button", { type: "button", class: "pickup", text: "Pick up",
                       onclick: () => { const uri = prompt("Send this caller to (sip: URI)"); if (uri) act("POST", memberPath(room.room, m.id, "pickup"), { uri }); } })] : [])));
}

// One sidebar: its members (each with a remove button), a member picker to
// add one (putting a member in moves it out of any other), Dissolve.
function sidebarBox(room, s) {
  const base = roomPath(room.room) + "/sidebars/" + s.id;
  const byId = new Map(room.members.map((m) => [m.id, m]));
  const chips = s.members.map((id) => {
    const m = byId.get(id);
    return el("span", { class: "chip", "data-member-id": String(id) },
      el("span", { class: "sb-member", text: m ? memberName(m) : String(id) }),
      el("button", { type: "button", class: "sb-remove", title: "back to the main room", text: "\u00d7",
                     onclick: () => act("DELETE", base + "/members/" + id) }));
  });
  const pick = el("select", { class: "sb-pick", "aria-label": "member to add", "data-keep": "sb-pick:" + room.room + ":" + s.id });
  for (const m of room.members) {
    if (s.members.includes(m.id) || m.waiting) continue;
    pick.append(el("option", { value: String(m.id), text: memberName(m) }));
  }
  const add = () => { if (pick.value) act("PUT", base + "/members/" + pick.value); };
  return el("div", { class: "sidebar", "data-sidebar-id": String(s.id) },
    el("strong", { class: "sb-name", text: s.name }),
    el("span", { class: "sb-id", text: "#" + s.id }),
    el("span", { class: "sb-gain", text: "main room at " + s.main_gain_db + " dB" }),
    s.whisper_main ? el("span", { class: "sb-whisper", text: "heard by the main room" }) : null,
    el("span", { class: "sb-members" }, ...(chips.length ? chips : [el("em", { text: "empty" })])),
    ...(pick.options.length ? [pick, el("button", { type: "button", class: "sb-add", text: "Add", onclick: add })] : []),
    el("button", { type: "button", class: "sb-dissolve danger", text: "Dissolve",
                   onclick: () => act("DELETE", base) }));
}

// The field now on the page with this data-keep key (a redraw replaces them).
function keptField(key) {
  return [...document.querySelectorAll("[data-keep]")].find((f) => f.dataset.keep === key) || null;
}

// The create form: name, the main room's level in the sidebar (empty: the
// room's default), "heard by the main room", and its first members (members
// of the room in no sidebar yet and not waiting).
function sidebarSection(room) {
  const key = (what) => what + ":" + room.room;
  const name = el("input", { type: "text", class: "sidebar-name", placeholder: "new sidebar name", "aria-label": "sidebar name", "data-keep": key("sb-name") });
  const whisper = el("input", { type: "checkbox", class: "sidebar-whisper", "data-keep": key("sb-whisper") });
  const gain = el("input", { type: "number", class: "sidebar-gain", min: "-60", max: "0", step: "1", placeholder: "default",
                             title: "level at which the sidebar hears the main room, dB (-60..0); empty: the room's default",
                             "aria-label": "main room level in dB", "data-keep": key("sb-gain") });
  const members = el("select", { multiple: "", class: "sidebar-members", "aria-label": "first members", "data-keep": key("sb-members") });
  for (const m of room.members) {
    if (m.waiting || m.sidebar) continue;
    members.append(el("option", { value: String(m.id), text: memberName(m) }));
  }
  members.size = Math.min(4, Math.max(2, members.options.length));
  const create = async () => {
    if (gain.validity.badInput) { say("the main room's level is a number of dB (-60..0)"); return; }
    const body = { name: name.value.trim(), whisper_main: whisper.checked };
    if (gain.value !== "") body.main_gain_db = Number(gain.value);
    const chosen = [...members.selectedOptions].map((o) => Number(o.value));
    if (chosen.length) body.members = chosen;
    if (await act("POST", roomPath(room.room) + "/sidebars", body)) {
      // The sidebars event may have redrawn the card before this answer.
      clearKept([key("sb-name"), key("sb-whisper"), key("sb-gain"), key("sb-members")]);
    }
  };
  return el("div", { class: "sidebars" },
    el("h3", { text: "Sidebars" }),
    ...(room.sidebars || []).map((s) => sidebarBox(room, s)),
    el("div", { class: "sidebar-new" }, name,
      el("label", {}, "main room ", gain, " dB"),
      el("label", {}, whisper, " heard by the main room"),
      members.options.length ? members : null,
      el("button", { type: "button", class: "sidebar-create", text: "Create sidebar", onclick: create })));
}

// Empties the fields now on the page with these data-keep keys.
function clearKept(keys) {
  for (const k of keys) {
    const f = keptField(k);
    if (!f) continue;
    if (f.type === "checkbox") f.checked = false;
    else if (f.multiple) for (const o of f.options) o.selected = false;
    else f.value = "";
  }
}

// A merge or split (README "Moving members"): the answer names who is moving
// and who stayed behind with the reason; a refusal moves nobody and shows
// its text as any refusal does.
async function moveMembers(room, kind, body, to, keys) {
  // Names now: the members leave this card before the answer comes.
  const names = new Map();
  for (const r of state.rooms.values()) for (const m of r.members) names.set(m.id, memberName(m));
  const who = (id) => (names.get(id) || "member") + " #" + id;
  const report = $("report");
  let data;
  try { data = await api("POST", roomPath(room) + "/" + kind, body); }
  catch (e) { report.replaceChildren(); say(e.message); return; }
  say("");
  clearKept(keys);
  const stayed = data.stayed || [];
  report.replaceChildren(
    el("strong", { class: "report-title", text: kind + " " + room + " \u2192 " + to + ": " + data.message }), " ",
    el("span", { class: "report-moving", text: "moving: " + ((data.moving || []).map(who).join(", ") || "nobody") }),
    stayed.length ? " " : null,
    stayed.length ? el("span", { class: "report-stayed",
                                 text: "stayed: " + stayed.map((s) => who(s.id) + " (" + s.status + " " + s.error + ")").join(", ") }) : null);
}

// Merge: every member into another room. Split: the ticked members (not
// waiting callers, who cannot move) into another room.
function roomMoves(room) {
  const key = (what) => what + ":" + room.room;
  const mergeTo = el("input", { type: "text", class: "merge-to", placeholder: "room", "aria-label": "merge into room", "data-keep": key("merge-to") });
  const mergePin = el("input", { type: "text", class: "merge-pin", placeholder: "PIN", "aria-label": "PIN of that room", "data-keep": key("merge-pin") });
  const splitTo = el("input", { type: "text", class: "split-to", placeholder: "room", "aria-label": "split into room", "data-keep": key("split-to") });
  const splitPin = el("input", { type: "text", class: "split-pin", placeholder: "PIN", "aria-label": "PIN of that room", "data-keep": key("split-pin") });
  const ticks = room.members.filter((m) => !m.waiting).map((m) =>
    el("input", { type: "checkbox", class: "split-member", value: String(m.id), "aria-label": memberName(m), "data-keep": key("split-member") + ":" + m.id }));
  const merge = () => {
    const into = mergeTo.value.trim();
    if (!into) { say("type the room to merge " + room.room + " into"); return; }
    const body = { into };
    if (mergePin.value) body.pin = mergePin.value;
    moveMembers(room.room, "merge", body, into, [key("merge-to"), key("merge-pin")]);
  };
  const split = () => {
    const to = splitTo.value.trim();
    const members = ticks.filter((t) => t.checked).map((t) => Number(t.value));
    if (!members.length) { say("tick the members to split off"); return; }
    if (!to) { say("type the room to split them into"); return; }
    const body = { to, members };
    if (splitPin.value) body.pin = splitPin.value;
    moveMembers(room.room, "split", body, to,
                [key("split-to"), key("split-pin"), ...members.map((id) => key("split-member") + ":" + id)]);
  };
  return el("div", { class: "room-moves" },
    el("div", { class: "merge" }, "Merge all into ", mergeTo, mergePin,
      el("button", { type: "button", class: "merge-button", text: "Merge", onclick: merge })),
    ticks.length ? el("div", { class: "split" }, "Split ",
      ...ticks.map((t) => el("label", { class: "split-pick" }, t, " " + t.getAttribute("aria-label"))),
      " into ", splitTo, splitPin,
      el("button", { type: "button", class: "split-button", text: "Split", onclick: split })) : null);
}

function roomCard(room) {
  const uri = el("input", { type: "text", class: "dial-uri", placeholder: "sip:user@host", "aria-label": "dial-out URI", "data-keep": "dial:" + room.room });
  const dial = () => { if (uri.value) act("POST", "/api/rooms/" + encodeURIComponent(room.room) + "/dial", { uri: uri.value }); };
  const head = el("tr", {}, ...["", "member", "status", "sidebar", "codec", "level", "loss", "jitter", "", "actions"].map((t) => el("th", { text: t })));
  const body = el("tbody", {}, ...room.members.map((m) => memberRow(room, m, room.members)));
  const record = () => act("POST", "/api/rooms/" + encodeURIComponent(room.room) + "/recording", { record: !room.recording });
  return el("section", { class: "room", "data-room": room.room },
    el("h2", { text: room.room + " (" + room.members.length + ")" + (room.recording ? " \u25cf recording" : "") }),
    el("div", { class: "entity", text: room.entity || "" }),
    el("table", {}, el("thead", {}, head), body),
    sidebarSection(room),
    roomMoves(room),
    el("div", { class: "dial" }, uri, el("button", { type: "button", class: "dial-button", text: "Dial out", onclick: dial }),
      el("button", { type: "button", class: "record-button", text: room.recording ? "Stop recording" : "Record", onclick: record })));
}

function render() {
  const main = $("rooms");
  // Keep what the operator is typing or picking (dial-out URI, move target,
  // sidebar name, ...) across redraws: each such field has a data-keep key.
  const typed = new Map();
  for (const input of main.querySelectorAll("[data-keep]")) {
    const value = input.type === "checkbox" ? input.checked
                : input.multiple ? [...input.selectedOptions].map((o) => o.value) : input.value;
    if (Array.isArray(value) ? value.length : value) typed.set(input.dataset.keep, { value, focused: document.activeElement === input });
  }
  main.replaceChildren();
  if (state.rooms.size === 0) { main.append(el("div", { class: "empty", text: "No rooms." })); return; }
  for (const room of [...state.rooms.values()].sort((a, b) => a.room.localeCompare(b.room))) main.append(roomCard(room));
  for (const input of main.querySelectorAll("[data-keep]")) {
    const t = typed.get(input.dataset.keep);
    if (!t) continue;
    if (input.type === "checkbox") input.checked = t.value;
    else if (input.multiple) for (const o of input.options) o.selected = t.value.includes(o.value);
    else if (input.tagName !== "SELECT" || [...input.options].some((o) => o.value === t.value)) input.value = t.value;
    if (t.focused) setTimeout(() => input.focus(), 0);
  }
}

function upsertMember(roomName, member) {
  const room = state.rooms.get(roomName);
  if (!room) return;
  const i = room.members.findIndex((m) => m.id === member.id);
  if (i >= 0) room.members[i] = member; else room.members.push(member);
}

function onMessage(msg) {
  switch (msg.type) {
    case "snapshot":
      state.rooms = new Map(msg.rooms.map((r) => [r.room, r]));
      break;
    case "room_created":
      if (msg.state) state.rooms.set(msg.room, msg.state);
      else if (!state.rooms.has(msg.room)) state.rooms.set(msg.room, { room: msg.room, members: [], sidebars: [] });
      break;
    case "room_ended":
      state.rooms.delete(msg.room);
      break;
    case "member_joined":
    case "member_changed":
    case "talker":
      if (!state.rooms.has(msg.room)) state.rooms.set(msg.room, { room: msg.room, members: [], sidebars: [] });
      if (msg.state) upsertMember(msg.room, msg.state);
      if (msg.type === "talker" && msg.state) { updateLive(msg.state.id, msg.state.level, msg.state.talking); return; }
      break;
    case "recording": {
      const room = state.rooms.get(msg.room);
      if (room) room.recording = !!msg.recording;
      break;
    }
    case "sidebars": {
      // The room's whole list, and the member's state when one moved.
      const room = state.rooms.get(msg.room);
      if (!room) return;
      if (msg.state) upsertMember(msg.room, msg.state);
      if (Array.isArray(msg.sidebars)) {
        // The list says who is where (a dissolve sends no member states).
        room.sidebars = msg.sidebars;
        for (const m of room.members) m.sidebar = (msg.sidebars.find((s) => s.members.includes(m.id)) || { id: 0 }).id;
      }
      break;
    }
    case "member_left": {
      // A member that hangs up or moves away also leaves its sidebar.
      const room = state.rooms.get(msg.room);
      if (room) {
        room.members = room.members.filter((m) => m.id !== msg.member);
        for (const s of room.sidebars || []) s.members = s.members.filter((id) => id !== msg.member);
      }
      break;
    }
    case "levels":
      for (const r of msg.rooms) {
        const room = state.rooms.get(r.room);
        for (const m of r.members) {
          if (room) { const known = room.members.find((x) => x.id === m.id); if (known) { known.level = m.level; known.talking = m.talking; } }
          updateLive(m.id, m.level, m.talking);
        }
      }
      return;
    default:
      return;
  }
  render();
}

// Talking dot and level meter change often: touch only those two nodes.
function updateLive(id, level, talking) {
  const bar = document.getElementById("level-" + id);
  if (bar) { bar.style.width = levelPercent(level) + "%"; bar.parentElement.title = level + " dBov"; }
  const dot = document.getElementById("talk-" + id);
  if (dot) dot.className = "talk" + (talking ? " on" : "");
}

function retryLater() {
  state.timer = setTimeout(connect, state.retry);
  state.retry = Math.min(state.retry * 2, 10000);
}

async function connect() {
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  clearTimeout(state.timer);
  if (!token()) { setStatus(false, "enter the admin token"); return; }
  let ticket;
  const used = token();
  try { ticket = (await api("POST", "/api/events/ticket")).ticket; }
  catch (e) {
    if (refused(e)) { askForToken(e, used); return; }
    setStatus(false, "disconnected"); say(e.message); retryLater(); return;
  }
  if (state.ws) return;  // another connect() won the race
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/api/events?ticket=" + encodeURIComponent(ticket));
  state.ws = ws;
  ws.onopen = () => { setStatus(true, "live"); state.retry = 500; say(""); };
  ws.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
  ws.onclose = () => {
    setStatus(false, "disconnected");
    state.ws = null;
    // A rejected or rotated token shows up as a closed stream: ask the API
    // why before trying again.
    const asked = token();
    api("GET", "/api/rooms").then(retryLater, (e) => {
      if (refused(e)) { askForToken(e, asked); return; }
      say(e.message);
      retryLater();
    });
  };
}

$("use-token").addEventListener("click", () => {
  sessionStorage.setItem("chorus-token", $("token").value.trim());
  $("token").value = "";
  connect();
});
$("token").addEventListener("keydown", (e) => { if (e.key === "Enter") $("use-token").click(); });
connect();
</script>
</body>
</html>
)chorus";

}  // namespace

std::string_view console_page() {
  return kPage;
}

}  // namespace chorus::focus
