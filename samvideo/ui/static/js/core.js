// samvideo browser UI: the page's state and the helpers every part uses.
// Prompts are kept per object per frame, in the --prompts file format; the server keeps
// them with the video they belong to, so a reload brings them back.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

const S = {
  colours: [],
  model: "",
  video: null,
  frame: 0,
  ids: [1], // the objects, in the order they were added
  current: 1, // the object new prompts belong to
  names: {}, // object id -> name
  hidden: new Set(), // object ids not drawn
  opacity: 0.45,
  prompts: new Map(), // "id@frame" -> {id, frame, box, points, neg_points}
  undo: [], // the prompts before each change, newest last
  image: null, // the frame's picture under the layers
  result: null, // {frame, ids: Uint8Array} the run's label map of this frame
  preview: null, // {frame, ids: Uint8Array, objects} the segmenter's answer to this frame's prompts
  run: null, // the latest run of this video, as /api/job reports it
  tracks: null, // {run_id, frames: {"i": [[id, box, score, state, area], ...]}}
  live: false, // showing the running job's frames as they come
  drag: null,
  playing: false,
  imageSeq: 0,
  previewSeq: 0,
  polling: false,
  error: false,
  dir: "",
};

// -- messages --------------------------------------------------------------------------

function say(text, isError = false) { // one line in the header; the whole text on hover
  $("message").textContent = text;
  $("message").title = text;
  $("message").className = isError ? "error" : "";
  $("message-close").hidden = !isError;
  S.error = isError;
}

$("message-close").onclick = () => say("");

// -- the server ------------------------------------------------------------------------

async function api(path, options = {}) {
  const res = await fetch(path, options);
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  if (S.error && options.method === "POST") say(""); // a later success: the error is old
  return body;
}

function postJson(path, data) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${url}`));
    img.src = url;
  });
}

const scratch = document.createElement("canvas").getContext("2d", { willReadFrequently: true });

async function loadIds(url) { // a grey label-map PNG -> one object id per pixel
  const img = await loadImage(url);
  scratch.canvas.width = img.width;
  scratch.canvas.height = img.height;
  scratch.drawImage(img, 0, 0);
  const rgba = scratch.getImageData(0, 0, img.width, img.height).data;
  const ids = new Uint8Array(img.width * img.height);
  for (let i = 0; i < ids.length; i++) ids[i] = rgba[4 * i];
  return ids;
}

// -- objects and prompts -----------------------------------------------------------------

const colour = (id) => S.colours[id % 256] || "#ff0000";
const key = (id, frame) => `${id}@${frame}`;
const objectName = (id) => S.names[id] || `Object ${id}`;
const running = () => S.run && ["starting", "running", "stopping"].includes(S.run.state);
const runDone = () => S.run && ["complete", "interrupted"].includes(S.run.state);

function validPrompts(frame = null) { // the prompts file's entries, in its order
  const out = [];
  for (const p of S.prompts.values()) {
    if (frame !== null && p.frame !== frame) continue;
    if (!p.box && !p.points.length) continue; // background clicks alone prompt nothing
    const obj = { id: p.id, frame: p.frame, points: p.points, neg_points: p.neg_points };
    if (p.box) obj.box = p.box;
    if (S.names[p.id]) obj.name = S.names[p.id];
    out.push(obj);
  }
  return out.sort((a, b) => a.frame - b.frame || a.id - b.id);
}

function promptsKey(list) { // the same prompts give the same text, whatever the field order
  return JSON.stringify(list.map((p) => [p.id, p.frame, p.box || null, p.points,
    p.neg_points, p.name || null]).sort((a, b) => a[1] - b[1] || a[0] - b[0]));
}

function snapshot() { // before each change of the prompts: what Ctrl-Z comes back to
  S.undo.push(JSON.stringify({ prompts: [...S.prompts.values()], ids: S.ids }));
  if (S.undo.length > 200) S.undo.shift();
}

function setPrompts(list) {
  S.prompts.clear();
  for (const p of list) {
    S.prompts.set(key(p.id, p.frame), { id: p.id, frame: p.frame, box: p.box || null,
      points: p.points || [], neg_points: p.neg_points || [] });
  }
}

let saveTimer = null;
function savePage() { // the server keeps the page's state with the video (a reload restores it)
  if (!S.video) return;
  clearTimeout(saveTimer);
  const video = S.video.id;
  saveTimer = setTimeout(() => {
    postJson(`/api/video/${video}/page`, {
      objects: validPrompts(), ids: S.ids, names: S.names,
    }).catch((err) => say(err.message, true));
  }, 150);
}
