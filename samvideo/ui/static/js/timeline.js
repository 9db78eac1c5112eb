// The timeline under the frame: the frames to track (the range), where each object is
// prompted (▼ where it starts, ◆ a correction), how the last run tracked it (a strip per
// object: its colour where tracked, grey where lost), and the frame shown. Click or drag
// to go to a frame.
"use strict";

const line = $("timeline");
const lctx = line.getContext("2d");

function range() { // the frames to track, inclusive
  const last = S.video ? S.video.frames - 1 : 0;
  const clamp = (v, d) => (Number.isFinite(v) ? Math.max(0, Math.min(last, v)) : d);
  return [clamp(parseInt($("range-first").value, 10), 0),
    clamp(parseInt($("range-last").value, 10), last)];
}

function drawTimeline() {
  if (!S.video) return;
  const w = Math.max(1, Math.round(line.clientWidth));
  if (line.width !== w) line.width = w;
  const h = line.height, n = S.video.frames;
  const x = (f) => ((f + 0.5) / n) * w;
  const fw = Math.max(1, w / n);
  lctx.clearRect(0, 0, w, h);
  lctx.fillStyle = "#d9dde3";
  lctx.fillRect(0, 0, w, h);
  const [lo, hi] = range();
  lctx.fillStyle = "#eef3fe";
  lctx.fillRect(x(lo) - fw / 2, 0, (hi - lo + 1) * fw, h);

  const ids = S.ids;
  const rowH = Math.max(2, Math.min(6, Math.floor((h - 16) / Math.max(ids.length, 1))));
  const tracked = [];
  if (S.tracks && S.run && S.tracks.run_id === S.run.run_id) {
    for (const [f, objs] of Object.entries(S.tracks.frames)) {
      tracked.push(Number(f));
      for (const [id, , , state] of objs) {
        const row = ids.indexOf(id);
        if (row < 0) continue;
        lctx.fillStyle = state === "lost" ? "#8a8f98" : colour(id);
        lctx.globalAlpha = state === "predicted" ? 0.5 : 1;
        lctx.fillRect(x(Number(f)) - fw / 2, 14 + row * rowH, fw, rowH - 1);
      }
    }
    lctx.globalAlpha = 1;
  }
  tracked.sort((a, b) => a - b);
  line.dataset.tracked = tracked.length ? `${tracked[0]}-${tracked[tracked.length - 1]}` : "";

  const marks = [];
  const first = {};
  for (const p of validPrompts()) if (!(p.id in first)) first[p.id] = p.frame;
  for (const p of validPrompts()) {
    const start = first[p.id] === p.frame;
    marks.push(`${p.id}@${p.frame}:${start ? "start" : "correction"}`);
    const cx = x(p.frame);
    lctx.fillStyle = colour(p.id);
    lctx.strokeStyle = "#1d2127";
    lctx.lineWidth = 1;
    lctx.beginPath();
    if (start) { // ▼
      lctx.moveTo(cx - 5, 1); lctx.lineTo(cx + 5, 1); lctx.lineTo(cx, 11);
    } else { // ◆
      lctx.moveTo(cx, 1); lctx.lineTo(cx + 5, 6); lctx.lineTo(cx, 11); lctx.lineTo(cx - 5, 6);
    }
    lctx.closePath();
    lctx.fill();
    lctx.stroke();
  }
  line.dataset.prompts = marks.join(",");

  lctx.fillStyle = "#1d2127";
  lctx.fillRect(x(S.frame) - 1, 0, 2, h);
}

function frameAt(ev) {
  const r = line.getBoundingClientRect();
  return Math.floor(((ev.clientX - r.left) / r.width) * S.video.frames);
}

line.addEventListener("pointerdown", (ev) => {
  if (!S.video || running()) return;
  line.setPointerCapture(ev.pointerId);
  line.dataset.dragging = "1";
  showFrame(frameAt(ev));
});
line.addEventListener("pointermove", (ev) => {
  if (line.dataset.dragging === "1") showFrame(frameAt(ev), { preview: false });
});
line.addEventListener("pointerup", () => { line.dataset.dragging = ""; requestPreview(); });
