// Opening a video (browse, type a path, upload), what the page shows for it on load
// (its prompts and runs, which the server keeps with it), and the keyboard.
"use strict";

async function loadStatus() {
  const st = await api("/api/status");
  S.colours = st.colours;
  S.model = st.model;
  $("model").textContent = `model: ${st.model}`;
  $("root").textContent = st.root;
  $("upload-limit").textContent = st.max_upload_mb;
  S.maxUploadMb = st.max_upload_mb;
  $("warning").textContent = st.warning || "";
  $("warning").hidden = !st.warning;
  await browse(S.dir);
  if (st.video) setVideo(st.video, st);
  if (st.job && ["starting", "running", "stopping"].includes(st.job.state)) {
    S.run = st.job;
    S.live = true;
    showRun();
    poll();
  }
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
    await postJson("/api/open", { path });
    $("path").value = path;
    await loadStatus(); // the video with its own prompts and runs
  } catch (err) { say(err.message, true); }
}

async function upload(file) {
  if (file.size > S.maxUploadMb * 1024 * 1024) {
    say(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB: the limit is ${S.maxUploadMb} MB`, true);
    return;
  }
  say(`uploading ${file.name}…`);
  try {
    await api(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
    await loadStatus();
  } catch (err) { say(err.message, true); }
}

function setVideo(video, status) { // the page for this video: its prompts and its last run
  const changed = !S.video || S.video.id !== video.id;
  S.video = video;
  if (changed) {
    const page = status.page || { objects: [], ids: [1], names: {} };
    setPrompts(page.objects);
    S.names = { ...page.names };
    S.ids = page.ids.length ? [...page.ids] : [1];
    for (const p of page.objects) if (!S.ids.includes(p.id)) S.ids.push(p.id);
    S.current = S.ids[0];
    S.hidden.clear();
    S.undo = [];
    S.preview = null;
    S.result = null;
    S.tracks = null;
    S.run = status.runs.length ? status.runs[status.runs.length - 1] : null;
    S.live = false;
    $("range-first").value = 0;
    $("range-last").value = video.frames - 1;
    for (const id of ["range-first", "range-last"]) $(id).max = video.frames - 1;
  }
  canvas.width = video.width;
  canvas.height = video.height;
  $("frame").max = video.frames - 1;
  $("video-name").textContent = `${video.label} · ${video.width}×${video.height} · ` +
    `${video.frames} frames · ${video.fps.toFixed(2)} fps`;
  $("open-panel").open = false;
  $("work").hidden = false;
  fitCanvas();
  say(`opened ${video.label}`);
  renderObjects();
  showRun();
  if (changed) {
    const first = validPrompts()[0];
    loadTracks().catch((err) => say(err.message, true))
      .then(() => showFrame(first ? first.frame : 0));
  }
}

// -- the keyboard ------------------------------------------------------------------------

document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  const typing = t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement ||
    (t instanceof HTMLInputElement && !["checkbox", "range", "button"].includes(t.type));
  if (!S.video || typing) return; // fields keep their keys
  if (ev.key === " " && !ev.ctrlKey && !ev.metaKey) {
    ev.preventDefault(); // not a click on the focused button, not a scroll
    play();
  } else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z" && !ev.shiftKey) {
    ev.preventDefault();
    if (editable()) undo();
  } else if (ev.key === "ArrowLeft" && !S.playing) {
    showFrame(S.frame - 1);
  } else if (ev.key === "ArrowRight" && !S.playing) {
    showFrame(S.frame + 1);
  }
});

document.addEventListener("keyup", (ev) => { // a focused button must not take the space too
  if (ev.key === " " && ev.target instanceof HTMLButtonElement) ev.preventDefault();
});

$("prev").onclick = () => showFrame(S.frame - 1);
$("next").onclick = () => showFrame(S.frame + 1);
$("frame").oninput = () => { if (!running() && !S.playing) showFrame(Number($("frame").value)); };

// -- open forms --------------------------------------------------------------------------

$("open-form").onsubmit = (ev) => { ev.preventDefault(); openPath($("path").value.trim()); };
$("upload-form").onsubmit = (ev) => {
  ev.preventDefault();
  const file = $("upload-file").files[0];
  if (file) upload(file); else say("choose a video file first", true);
};

loadStatus().catch((err) => say(err.message, true));
