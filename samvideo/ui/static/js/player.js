// Playback at the clip's own rate: the frame due is the one the wall clock says; frames
// are fetched ahead, and a frame that is not there in time is skipped, so a slow
// connection drops frames instead of slowing the clip down.
"use strict";

const AHEAD_S = 0.75; // fetched this far ahead of the clock
const LAST_WAIT_S = 1.0; // the last frame is waited for this long after its time

async function play() {
  if (S.playing) { S.playing = false; return; }
  if (!S.video || running()) return;
  const [lo, hi] = range();
  S.playing = true;
  $("play").textContent = "Pause";
  const fps = S.video.fps;
  const start = S.frame >= hi || S.frame < lo ? lo : S.frame;
  const ahead = Math.max(2, Math.ceil(fps * AHEAD_S));
  const pending = new Map(); // frame -> {ready, value}
  const fetch = (i) => {
    if (pending.has(i) || i > hi) return;
    const entry = { ready: false, value: null };
    pending.set(i, entry);
    loadFrame(i).then((value) => { entry.ready = true; entry.value = value; },
      () => { entry.ready = true; });
  };
  let shown = start, count = 0;
  for (let i = start; i < start + ahead; i++) fetch(i);
  const t0 = performance.now();
  while (S.playing) {
    const due = start + Math.floor(((performance.now() - t0) / 1000) * fps);
    for (let i = due; i < due + ahead; i++) fetch(i);
    let best = null;
    for (let i = Math.min(due, hi); i > shown; i--) {
      const entry = pending.get(i);
      if (entry && entry.ready && entry.value) { best = i; break; }
    }
    if (best !== null) {
      const { image, ids } = pending.get(best).value;
      for (const i of pending.keys()) if (i <= best) pending.delete(i);
      shown = best;
      count += 1;
      S.frame = best;
      S.image = image;
      S.result = ids ? { frame: best, ids } : null;
      $("frame").value = best;
      $("frame-label").textContent = `${best} / ${S.video.frames - 1} · ${frameTime(best)} s`;
      draw();
      drawTimeline();
    }
    const late = (performance.now() - t0) / 1000 - (hi - start + 1) / fps; // past the end
    if (shown >= hi || late > LAST_WAIT_S) break; // the last frame shown, or given up on
    await new Promise((r) => requestAnimationFrame(r));
  }
  const seconds = (performance.now() - t0) / 1000;
  canvas.dataset.played = JSON.stringify({ from: start, to: shown, shown: count,
    seconds: Math.round(seconds * 1000) / 1000 });
  S.playing = false;
  $("play").textContent = "Play";
  showFrame(S.frame);
}

$("play").onclick = play;
