// Tracking: the frames and direction to track, Track / Re-run and Stop, the progress as
// the run goes (its frames shown as they are made), then the result to review and its
// downloads, which say when they no longer match the prompts.
"use strict";

$("track").onclick = async () => {
  const objects = validPrompts();
  if (!objects.length) return say("draw a box (or click a point) on the object first", true);
  const [first, last] = range();
  try {
    S.reviewFrame = S.frame;
    S.run = await postJson("/api/track", {
      objects, first, last, direction: $("direction").value,
    });
    S.tracks = null;
    S.live = true;
    showRun();
    poll();
  } catch (err) { say(err.message, true); }
};

$("stop").onclick = async () => {
  try { S.run = await postJson("/api/job/stop", {}); showRun(); } catch (err) { say(err.message, true); }
};

for (const [button, input] of [["range-first-here", "range-first"], ["range-last-here", "range-last"]]) {
  $(button).onclick = () => { $(input).value = S.frame; rangeChanged(); };
}
$("range-first").onchange = $("range-last").onchange = () => rangeChanged();
$("direction").onchange = () => rangeChanged();

function rangeChanged() {
  const [lo, hi] = range();
  if (hi < lo) say(`the last frame (${hi}) comes before the first (${lo})`, true);
  drawTimeline();
}

function setProgress(run) {
  const bar = $("progress");
  if (!run) { bar.value = 0; $("progress-text").textContent = ""; return; }
  if (run.backward && run.frames_done === 0 && run.state !== "complete") {
    const [done, total] = run.backward;
    bar.value = (100 * done) / total;
    $("progress-text").textContent = `tracking backwards: ${done} / ${total} frames · ${run.state}`;
    return;
  }
  bar.value = run.percent;
  const parts = [`${run.frames_done} / ${run.total} frames`, `${run.percent.toFixed(0)} %`];
  if (run.rate_fps !== null) parts.push(`${run.rate_fps.toFixed(1)} fps`);
  if (run.eta_s !== null) parts.push(`${Math.ceil(run.eta_s)} s left`);
  parts.push(run.state);
  $("progress-text").textContent = parts.join(" · ");
}

function showRun() { // every control from the state: nothing stays from an earlier video
  const run = S.run;
  setProgress(run);
  const busy = running();
  $("track").disabled = busy;
  $("stop").disabled = !busy || run.state === "stopping";
  $("track").textContent = runDone() ? "Re-run" : "Track";
  for (const id of ["open-btn", "upload-btn", "import"]) $(id).disabled = busy;
  if (run && run.state === "failed") say(`tracking failed: ${run.error}`, true);
  $("review-panel").hidden = !runDone();
  if (!runDone()) return;
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
  showStale();
}

function showStale() { // the downloads are the last run's: say so once the prompts differ
  const stale = runDone() && promptsKey(validPrompts()) !== promptsKey(S.run.prompts);
  $("stale").hidden = !stale;
  $("downloads").classList.toggle("stale", stale);
}

async function loadTracks() {
  if (!runDone()) return;
  S.tracks = await api(`/api/run/${S.run.run_id}/tracks`);
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
      if (run.latest_frame !== null && run.latest_frame !== shown && S.live) {
        shown = run.latest_frame;
        const img = await loadImage(`/api/job/latest.jpg?f=${shown}&r=${run.run_id}`).catch(() => null);
        if (img && S.live) {
          S.image = img;
          S.frame = shown;
          $("frame").value = shown;
          $("frame-label").textContent = `${shown} / ${S.video.frames - 1} · tracking`;
          draw();
          drawTimeline();
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
  S.live = false;
  if (runDone()) {
    await loadTracks().catch((err) => say(err.message, true));
    say(`tracking ${S.run.state}: ${S.run.frames_done} frames`);
    $("show-result").checked = true;
    showRun();
  }
  showFrame(S.reviewFrame ?? S.frame);
}

$("show-result").onchange = () => showFrame(S.frame);
