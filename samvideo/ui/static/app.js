// samvideo browser UI: open a video, prompt objects, preview masks, track, review.
// Prompts are kept per object per frame, in the --prompts file format.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

const S = {
  colours: [],
  video: null,
  frame: 0,
  objects: [1],
  current: 1,
  prompts: new Map(), // "id@frame" -> {id, frame, box, points, neg_points}
  image: null, // what the canvas shows under the prompts
  preview: null, // {frame, img, objects}
  view: "source", // source | result | live
  run: null, // the last job as /api/job reports it
  drag: null,
  playing: false,
  imageSeq: 0,
  previewSeq: 0,
  polling: false,
  dir: "",
};

// -- helpers ---------------------------------------------------------------------------

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const res = await fetch(path, options);
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
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

const colour = (id) => S.colours[id % 256] || "#ff0000";
const key = (id, frame) => `${id}@${frame}`;
const running = () => S.run && ["starting", "running", "stopping"].includes(S.run.state);
const runDone = () => S.run && ["complete", "interrupted"].includes(S.run.state);

// -- opening ---------------------------------------------------------------------------

async function loadStatus() {
  const st = await api("/api/status");
  S.colours = st.colours;
  $("model").textContent = `model: ${st.model}`;
  $("root").textContent = st.root;
  $("upload-limit").textContent = st.max_upload_mb;
  S.maxUploadMb = st.max_upload_mb;
  await browse("");
  if (st.video) setVideo(st.video);
  if (st.job) { S.run = st.job; showRun(); if (running()) poll(); }
}

async function browse(dir) {
  try {
    const res = await api(`/api/files?dir=${encodeURIComponent(dir)}`);
    S.dir = res.dir;
    $("dir-label").textContent = "/" + res.dir;
    $("dir-up").disabled = res.parent === null;
    $("dir-up").onclick = () => browse(res.parent || "");
    const list = $("files");
    list.replaceChildren();
    for (const e of res.entries) {
      const li = document.createElement("li");
      li.textContent = e.kind === "dir" ? `${e.name}/` : e.name;
      li.dataset.kind = e.kind;
      li.dataset.path = e.path;
      li.onclick = () => (e.kind === "dir" ? browse(e.path) : openPath(e.path));
      list.append(li);
    }
  } catch (err) { say(err.message, true); }
}

async function openPath(path) {
  say(`opening ${path}…`);
  try {
    const res = await postJson("/api/open", { path });
    $("path").value = path;
    setVideo(res.video);
  } catch (err) { say(err.message, true); }
}

async function upload(file) {
  if (file.size > S.maxUploadMb * 1024 * 1024) {
    say(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB: the limit is ${S.maxUploadMb} MB`, true);
    return;
  }
  say(`uploading ${file.name}…`);
  try {
    const res = await api(`/api/upload?name=${encodeURIComponent(file.name)}`,
      { method: "POST", body: file });
    setVideo(res.video);
  } catch (err) { say(err.message, true); }
}

function setVideo(video) {
  const changed = !S.video || S.video.id !== video.id;
  S.video = video;
  if (changed) {
    S.prompts.clear();
    S.objects = [1];
    S.current = 1;
    S.preview = null;
    S.run = null;
    S.tracked = false;
    S.view = "source";
    $("review-panel").hidden = true;
    setProgress(null);
  }
  canvas.width = video.width;
  canvas.height = video.height;
  fitCanvas();
  $("frame").max = video.frames - 1;
  $("video-name").textContent = `${video.label} · ${video.width}×${video.height} · ` +
    `${video.frames} frames · ${video.fps.toFixed(2)} fps`;
  $("open-panel").open = false;
  $("work").hidden = false;
  fitCanvas();
  say(`opened ${video.label}`);
  renderObjects();
  showFrame(changed ? 0 : S.frame);
}

// -- frames ----------------------------------------------------------------------------

function frameUrl(i) {
  if (S.view === "result" && runDone()) return `/api/run/${S.run.run_id}/frame/${i}.jpg`;
  return `/api/video/${S.video.id}/frame/${i}.jpg`;
}

async function showFrame(i) {
  if (!S.video) return;
  i = Math.max(0, Math.min(S.video.frames - 1, i));
  S.frame = i;
  $("frame").value = i;
  const t = (i / S.video.fps).toFixed(2);
  $("frame-label").textContent = `${i} / ${S.video.frames - 1} · ${t} s`;
  const seq = ++S.imageSeq;
  let img;
  try {
    img = await loadImage(frameUrl(i));
  } catch {
    img = await loadImage(`/api/video/${S.video.id}/frame/${i}.jpg`).catch(() => null);
  }
  if (seq !== S.imageSeq || !img) return;
  S.image = img;
  draw();
  renderObjects();
  if (S.view === "source") requestPreview();
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (S.image) ctx.drawImage(S.image, 0, 0, canvas.width, canvas.height);
  const withPreview = S.view === "source" && S.preview && S.preview.frame === S.frame;
  if (withPreview) ctx.drawImage(S.preview.img, 0, 0, canvas.width, canvas.height);
  canvas.dataset.preview = withPreview ? String(S.frame) : "";
  canvas.dataset.shown = `${S.view}:${S.frame}`; // what is on screen (tests wait on it)
  if (S.view !== "live") drawPrompts();
  if (S.drag && S.drag.moved) strokeBox(S.drag, colour(S.current), true);
}

function fitCanvas() { // as large as the viewer allows, whole on screen, aspect kept
  if (!S.video) return;
  const availW = $("viewer").clientWidth;
  const availH = Math.max(160, window.innerHeight - 150);
  const scale = Math.min(availW / S.video.width, availH / S.video.height);
  canvas.style.width = `${Math.floor(S.video.width * scale)}px`;
  canvas.style.height = `${Math.floor(S.video.height * scale)}px`;
}

window.addEventListener("resize", () => { fitCanvas(); draw(); });

function unit() { // canvas pixels per CSS pixel
  return canvas.width / canvas.getBoundingClientRect().width;
}

function strokeBox(b, col, dashed = false) {
  const u = unit();
  ctx.save();
  ctx.strokeStyle = col;
  ctx.lineWidth = 2 * u;
  if (dashed) ctx.setLineDash([6 * u, 4 * u]);
  const x = Math.min(b.x0, b.x1), y = Math.min(b.y0, b.y1);
  ctx.strokeRect(x, y, Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0));
  ctx.restore();
}

function drawPrompts() {
  const u = unit();
  for (const p of S.prompts.values()) {
    if (p.frame !== S.frame) continue;
    const col = colour(p.id);
    if (p.box) strokeBox({ x0: p.box[0], y0: p.box[1], x1: p.box[2], y1: p.box[3] }, col);
    const dots = [...p.points.map((q) => [q, true]), ...p.neg_points.map((q) => [q, false])];
    for (const [[x, y], fg] of dots) {
      ctx.beginPath();
      ctx.arc(x + 0.5, y + 0.5, 4.5 * u, 0, 2 * Math.PI);
      ctx.fillStyle = fg ? col : "#000";
      ctx.strokeStyle = fg ? "#fff" : col;
      ctx.lineWidth = 2 * u;
      ctx.fill();
      ctx.stroke();
    }
  }
}

// -- prompting -------------------------------------------------------------------------

function toVideo(ev) {
  const r = canvas.getBoundingClientRect();
  const x = ((ev.clientX - r.left) * canvas.width) / r.width;
  const y = ((ev.clientY - r.top) * canvas.height) / r.height;
  return [Math.max(0, Math.min(canvas.width, x)), Math.max(0, Math.min(canvas.height, y))];
}

function promptFor(id, frame) {
  const k = key(id, frame);
  if (!S.prompts.has(k)) S.prompts.set(k, { id, frame, box: null, points: [], neg_points: [] });
  return S.prompts.get(k);
}

function editable() {
  if (!S.video || running()) return false;
  if (S.view !== "source") { // a correction: prompts are drawn on the source frame
    S.view = "source";
    $("show-result").checked = false;
  }
  return true;
}

canvas.addEventListener("pointerdown", (ev) => {
  if (ev.button !== 0 || !editable()) return;
  const [x, y] = toVideo(ev);
  S.drag = { x0: x, y0: y, x1: x, y1: y, moved: false, shift: ev.shiftKey };
  canvas.setPointerCapture(ev.pointerId);
});

canvas.addEventListener("pointermove", (ev) => {
  if (!S.drag) return;
  [S.drag.x1, S.drag.y1] = toVideo(ev);
  const px = Math.hypot(S.drag.x1 - S.drag.x0, S.drag.y1 - S.drag.y0) / unit();
  S.drag.moved = S.drag.moved || px > 4;
  draw();
});

canvas.addEventListener("pointerup", (ev) => {
  const d = S.drag;
  if (!d) return;
  S.drag = null;
  [d.x1, d.y1] = toVideo(ev);
  const p = promptFor(S.current, S.frame);
  if (d.moved) {
    const box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1),
      Math.max(d.y0, d.y1)].map(Math.round);
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) { draw(); return; }
    p.box = box;
  } else {
    const pt = [Math.min(Math.floor(d.x0), canvas.width - 1),
      Math.min(Math.floor(d.y0), canvas.height - 1)];
    (d.shift || $("bg-toggle").checked ? p.neg_points : p.points).push(pt);
  }
  promptsChanged();
  showFrame(S.frame);
});

function promptsChanged() {
  for (const [k, p] of S.prompts) {
    if (!p.box && !p.points.length) {
      if (!p.neg_points.length) S.prompts.delete(k);
    }
  }
  renderObjects();
  draw();
  requestPreview();
}

function validPrompts(frame = null) {
  const out = [];
  for (const p of S.prompts.values()) {
    if (frame !== null && p.frame !== frame) continue;
    if (!p.box && !p.points.length) continue; // background clicks alone prompt nothing
    const obj = { id: p.id, frame: p.frame, points: p.points, neg_points: p.neg_points };
    if (p.box) obj.box = p.box;
    out.push(obj);
  }
  return out.sort((a, b) => a.frame - b.frame || a.id - b.id);
}

async function requestPreview() {
  const frame = S.frame;
  const objects = validPrompts(frame);
  const seq = ++S.previewSeq;
  if (!objects.length) {
    S.preview = null;
    $("preview-info").textContent = "";
    draw();
    return;
  }
  try {
    const res = await postJson("/api/preview", { frame, objects });
    const img = await loadImage(res.mask);
    if (seq !== S.previewSeq) return;
    S.preview = { frame, img, objects: res.objects };
    $("preview-info").textContent = res.objects
      .map((o) => `object ${o.id}: score ${o.score.toFixed(2)}, area ${o.area} px`)
      .concat([`preview ${res.ms.toFixed(0)} ms`]).join("\n");
    draw();
  } catch (err) { if (seq === S.previewSeq) say(err.message, true); }
}

function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  for (const id of S.objects) {
    const li = document.createElement("li");
    li.dataset.id = id;
    li.className = id === S.current ? "current" : "";
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(id);
    const name = document.createElement("span");
    name.textContent = `Object ${id}`;
    const frames = document.createElement("span");
    frames.className = "frames";
    const onFrames = validPrompts().filter((p) => p.id === id).map((p) => p.frame);
    for (const f of onFrames) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `f${f}`;
      b.title = `prompt on frame ${f}`;
      b.onclick = (ev) => { ev.stopPropagation(); showFrame(f); };
      frames.append(b);
    }
    const del = document.createElement("button");
    del.type = "button";
    del.className = "small";
    del.textContent = "×";
    del.title = `remove object ${id}`;
    del.onclick = (ev) => { ev.stopPropagation(); removeObject(id); };
    li.append(sw, name, frames, del);
    li.onclick = () => { S.current = id; renderObjects(); };
    list.append(li);
  }
}

function removeObject(id) {
  for (const [k, p] of S.prompts) if (p.id === id) S.prompts.delete(k);
  S.objects = S.objects.filter((o) => o !== id);
  if (!S.objects.length) S.objects = [1];
  if (!S.objects.includes(S.current)) S.current = S.objects[0];
  promptsChanged();
}

$("add-object").onclick = () => {
  const id = Math.max(0, ...S.objects) + 1;
  if (id > 255) return say("at most 255 objects", true);
  S.objects.push(id);
  S.current = id;
  renderObjects();
};

$("undo").onclick = () => {
  const p = S.prompts.get(key(S.current, S.frame));
  if (!p) return;
  if (p.neg_points.length || p.points.length) {
    (p.neg_points.length ? p.neg_points : p.points).pop();
  } else {
    p.box = null;
  }
  promptsChanged();
};

$("clear-frame").onclick = () => {
  S.prompts.delete(key(S.current, S.frame));
  promptsChanged();
};

// -- tracking --------------------------------------------------------------------------

$("track").onclick = async () => {
  const objects = validPrompts();
  if (!objects.length) return say("draw a box (or click a point) on the object first", true);
  try {
    S.reviewFrame = S.frame;
    S.run = await postJson("/api/track", { objects });
    S.view = "live";
    showRun();
    poll();
  } catch (err) { say(err.message, true); }
};

$("stop").onclick = async () => {
  try { S.run = await postJson("/api/job/stop", {}); showRun(); } catch (err) { say(err.message, true); }
};

function setProgress(run) {
  const bar = $("progress");
  if (!run) { bar.value = 0; $("progress-text").textContent = ""; return; }
  bar.value = run.percent;
  const parts = [`${run.frames_done} / ${run.total} frames`, `${run.percent.toFixed(0)} %`];
  if (run.rate_fps !== null) parts.push(`${run.rate_fps.toFixed(1)} fps`);
  if (run.eta_s !== null) parts.push(`${Math.ceil(run.eta_s)} s left`);
  parts.push(run.state);
  $("progress-text").textContent = parts.join(" · ");
}

function showRun() {
  const run = S.run;
  setProgress(run);
  const busy = running();
  $("track").disabled = busy;
  $("stop").disabled = !busy || run.state === "stopping";
  $("track").textContent = S.tracked ? "Re-run" : "Track";
  $("open-btn").disabled = busy;
  $("upload-btn").disabled = busy;
  if (run && run.state === "failed") say(`tracking failed: ${run.error}`, true);
  if (!runDone()) { $("review-panel").hidden = true; return; }
  S.tracked = true;
  $("track").textContent = "Re-run";
  $("review-panel").hidden = false;
  const labels = {
    overlay: "Overlay video (MP4)", masks: "Masks (DAVIS PNG, zip)", coco: "Masks (COCO JSON)",
    npz: "Masks (NPZ)", jsonl: "Tracks (JSONL)", prompts: "Prompts (JSON)", run: "run.json",
  };
  const list = $("downloads");
  list.replaceChildren();
  for (const [kind, url] of Object.entries(run.downloads)) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = url;
    a.download = "";
    a.dataset.kind = kind;
    a.textContent = labels[kind] || kind;
    li.append(a);
    list.append(li);
  }
}

async function poll() {
  if (S.polling) return;
  S.polling = true;
  let shown = null;
  try {
    while (true) {
      const run = await api("/api/job");
      S.run = run;
      showRun();
      if (run.latest_frame !== null && run.latest_frame !== shown && S.view === "live") {
        shown = run.latest_frame;
        const img = await loadImage(`/api/job/latest.jpg?f=${shown}&r=${run.run_id}`).catch(() => null);
        if (img && S.view === "live") {
          S.image = img;
          S.frame = shown;
          $("frame").value = shown;
          $("frame-label").textContent = `${shown} / ${S.video.frames - 1} · tracking`;
          draw();
        }
      }
      if (!running()) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    say(err.message, true);
  } finally {
    S.polling = false;
  }
  if (runDone()) {
    say(`tracking ${S.run.state}: ${S.run.frames_done} frames`);
    S.view = "result";
    $("show-result").checked = true;
    showFrame(S.reviewFrame ?? 0);
  } else if (S.view === "live") {
    S.view = "source";
    showFrame(S.frame);
  }
}

// -- review ----------------------------------------------------------------------------

$("show-result").onchange = () => {
  S.view = $("show-result").checked && runDone() ? "result" : "source";
  showFrame(S.frame);
};

async function play() {
  if (S.playing) { S.playing = false; return; }
  S.playing = true;
  $("play").textContent = "Pause";
  const step = 1000 / (S.video ? S.video.fps : 24);
  if (S.frame >= S.video.frames - 1) await showFrame(0);
  while (S.playing && S.frame < S.video.frames - 1 && !running()) {
    const t0 = performance.now();
    await showFrame(S.frame + 1);
    await new Promise((r) => setTimeout(r, Math.max(0, step - (performance.now() - t0))));
  }
  S.playing = false;
  $("play").textContent = "Play";
}

$("play").onclick = play;
$("prev").onclick = () => showFrame(S.frame - 1);
$("next").onclick = () => showFrame(S.frame + 1);
$("frame").oninput = () => { if (!running()) showFrame(Number($("frame").value)); };

document.addEventListener("keydown", (ev) => {
  if (!S.video || ev.target instanceof HTMLInputElement) return; // inputs keep their keys
  if (ev.key === "ArrowLeft") showFrame(S.frame - 1);
  if (ev.key === "ArrowRight") showFrame(S.frame + 1);
});

// -- open forms --------------------------------------------------------------------------

$("open-form").onsubmit = (ev) => { ev.preventDefault(); openPath($("path").value.trim()); };
$("upload-form").onsubmit = (ev) => {
  ev.preventDefault();
  const file = $("upload-file").files[0];
  if (file) upload(file); else say("choose a video file first", true);
};

loadStatus().catch((err) => say(err.message, true));
