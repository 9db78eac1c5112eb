// The frame canvas: the frame, then the masks (the run's, and the preview of this
// frame's prompts), each object's box and label, the prompts. The page colours the masks
// itself from label maps, so each object can be shown or hidden, at any opacity.
"use strict";

const layerCanvas = document.createElement("canvas");
const layerCtx = layerCanvas.getContext("2d");

function trackedHere(i = S.frame) { // the run's objects on frame i, or null when not tracked
  if (!runDone() || !S.tracks || S.tracks.run_id !== S.run.run_id) return null;
  return S.tracks.frames[String(i)] || null;
}

function showsResult(i = S.frame) {
  return $("show-result").checked && trackedHere(i) !== null;
}

function promptedHere(frame = S.frame) { // ids with a prompt on this frame: their preview shows
  return new Set(validPrompts(frame).map((p) => p.id));
}

function frameUrl(i) { return `/api/video/${S.video.id}/frame/${i}.jpg`; }
function labelsUrl(i) { return `/api/run/${S.run.run_id}/labels/${i}.png`; }

async function loadFrame(i) { // {image, ids}: the picture and, when it has one, the run's labels
  const wantIds = showsResult(i) && trackedHere(i).length > 0;
  const [image, ids] = await Promise.all([loadImage(frameUrl(i)),
    wantIds ? loadIds(labelsUrl(i)) : Promise.resolve(null)]);
  return { image, ids };
}

async function showFrame(i, { preview = true } = {}) {
  if (!S.video) return;
  i = Math.max(0, Math.min(S.video.frames - 1, i));
  S.frame = i;
  S.live = false;
  $("frame").value = i;
  $("frame-label").textContent = `${i} / ${S.video.frames - 1} · ${frameTime(i)} s`;
  const seq = ++S.imageSeq;
  let got;
  try {
    got = await loadFrame(i);
  } catch (err) {
    if (seq === S.imageSeq) say(err.message, true);
    return;
  }
  if (seq !== S.imageSeq) return;
  S.image = got.image;
  S.result = got.ids ? { frame: i, ids: got.ids } : null;
  draw();
  renderObjects();
  describeFrame();
  drawTimeline();
  if (preview) requestPreview();
}

function infoName(id) { return S.names[id] ? `object ${id} (${S.names[id]})` : `object ${id}`; }

function frameTime(i) { return (i / S.video.fps).toFixed(2); }

let drawn = []; // what draw() put on the frame: "1:prompt", "2:lost", "2:label" (tests read it)

function draw() {
  drawn = [];
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (S.image) ctx.drawImage(S.image, 0, 0, canvas.width, canvas.height);
  let view = S.live ? "live" : "source";
  if (!S.live) {
    const withResult = S.result && S.result.frame === S.frame && showsResult();
    const withPreview = S.preview && S.preview.frame === S.frame;
    if (withResult) view = "result";
    drawMasks(withResult ? S.result.ids : null, withPreview ? S.preview.ids : null);
    if (withResult) drawTracked();
    canvas.dataset.preview = withPreview ? String(S.frame) : "";
    if (!S.playing) drawPrompts();
  }
  canvas.dataset.shown = `${view}:${S.frame}`; // what is on screen (tests wait on it)
  canvas.dataset.video = S.video ? S.video.label : "";
  canvas.dataset.drawn = drawn.join(",");
  if (S.drag && S.drag.moved) strokeBox(S.drag, colour(S.current), true);
}

function drawMasks(result, preview) {
  if (!result && !preview) return;
  const w = canvas.width, h = canvas.height;
  const here = promptedHere();
  const ids = new Uint8Array(w * h);
  for (let p = 0; p < ids.length; p++) {
    let id = preview ? preview[p] : 0;
    if (!id && result && !here.has(result[p])) id = result[p];
    ids[p] = S.hidden.has(id) ? 0 : id;
  }
  const rgb = S.colours.map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  const fill = Math.round(255 * S.opacity);
  const img = new ImageData(w, h);
  const px = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const id = ids[p];
      if (!id) continue;
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || ids[p - 1] !== id ||
        ids[p + 1] !== id || ids[p - w] !== id || ids[p + w] !== id;
      const c = rgb[id];
      px[4 * p] = c[0];
      px[4 * p + 1] = c[1];
      px[4 * p + 2] = c[2];
      px[4 * p + 3] = edge ? 255 : fill;
    }
  }
  layerCanvas.width = w;
  layerCanvas.height = h;
  layerCtx.putImageData(img, 0, 0);
  ctx.drawImage(layerCanvas, 0, 0);
}

function drawTracked() { // the run's box and label of each shown object without a prompt here
  const here = promptedHere();
  for (const [id, box, score, state] of trackedHere() || []) {
    if (S.hidden.has(id) || here.has(id) || !box) continue;
    const dashed = state === "lost" || state === "predicted";
    const b = { x0: box[0], y0: box[1], x1: box[2], y1: box[3] };
    if (dashed) {
      strokeBox(b, colour(id), true);
      drawn.push(`${id}:${state}`);
    }
    label(b, id, dashed ? state : score.toFixed(2));
    drawn.push(`${id}:label`);
  }
}

function label(b, id, text) {
  const u = unit();
  const words = `#${id}${S.names[id] ? " " + S.names[id] : ""} ${text}`;
  ctx.save();
  ctx.font = `600 ${14 * u}px system-ui, sans-serif`; // 14 CSS pixels whatever the zoom
  const tw = ctx.measureText(words).width + 6 * u, th = 18 * u;
  const x = Math.min(Math.max(b.x0, 0), canvas.width - tw);
  const y = b.y0 - th >= 0 ? b.y0 - th : Math.min(b.y1, canvas.height - th);
  ctx.fillStyle = colour(id);
  ctx.fillRect(x, y, tw, th);
  ctx.fillStyle = "#000";
  ctx.fillText(words, x + 3 * u, y + 14 * u);
  ctx.restore();
}

function fitCanvas() { // as large as the viewer allows, whole on screen, aspect kept
  if (!S.video) return;
  const availW = $("viewer").clientWidth;
  const availH = Math.max(160, window.innerHeight - 210);
  const scale = Math.min(availW / S.video.width, availH / S.video.height);
  canvas.style.width = `${Math.floor(S.video.width * scale)}px`;
  canvas.style.height = `${Math.floor(S.video.height * scale)}px`;
}

window.addEventListener("resize", () => { fitCanvas(); draw(); drawTimeline(); });

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

function drawPrompts() { // what the user gave on this frame: the box they drew, their clicks
  const u = unit();
  for (const p of S.prompts.values()) {
    if (p.frame !== S.frame || S.hidden.has(p.id)) continue;
    const col = colour(p.id);
    if (p.box) {
      strokeBox({ x0: p.box[0], y0: p.box[1], x1: p.box[2], y1: p.box[3] }, col);
      drawn.push(`${p.id}:prompt`);
    }
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

function describeFrame() { // what is known of this frame, in words: tracked or why not
  const state = $("frame-state"), info = $("preview-info");
  const lines = [];
  let text = "";
  if (runDone()) {
    const objs = trackedHere();
    const [lo, hi] = S.run.span;
    if (objs === null && (S.frame < lo || S.frame > hi)) {
      text = `not tracked: run ${S.run.run_id} tracked frames ${lo}–${hi}`;
    } else if (objs === null && S.run.tracked && S.frame > S.run.tracked[1]) {
      text = `not tracked: run ${S.run.run_id} stopped after frame ${S.run.tracked[1]}`;
    } else if (objs === null) {
      text = `not tracked by run ${S.run.run_id}`;
    } else if (!objs.length) {
      const first = Math.min(...S.run.prompts.map((p) => p.frame));
      text = `tracked: no object yet (the first prompt is on frame ${first})`;
    } else {
      text = `tracked by run ${S.run.run_id}` + ($("show-result").checked ? "" : " (hidden)");
      const here = promptedHere();
      for (const [id, , score, st, area] of objs) {
        if (!here.has(id)) lines.push(`${infoName(id)}: ${st}, score ${score.toFixed(2)}, ${area} px`);
      }
    }
  }
  state.textContent = text;
  state.dataset.tracked = text.startsWith("tracked") ? "yes" : "no";
  if (S.preview && S.preview.frame === S.frame) {
    for (const o of S.preview.objects) {
      lines.push(`${infoName(o.id)}: score ${o.score.toFixed(2)}, area ${o.area} px (preview)`);
    }
    lines.push(`preview ${S.preview.ms.toFixed(0)} ms`);
  }
  info.textContent = lines.join("\n");
}
