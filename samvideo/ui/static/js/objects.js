// Objects and their prompts: the list (name, shown or hidden, the frames it is prompted
// on), drawing boxes and clicking points on the frame, undo, importing a prompts file,
// and the preview of this frame's prompts.
"use strict";

// -- prompting on the frame ------------------------------------------------------------

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

const editable = () => S.video && !running() && !S.playing;

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
  if (d.moved) {
    const box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1),
      Math.max(d.y0, d.y1)].map(Math.round);
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) { draw(); return; }
    snapshot();
    promptFor(S.current, S.frame).box = box;
  } else {
    snapshot();
    const p = promptFor(S.current, S.frame);
    const pt = [Math.min(Math.floor(d.x0), canvas.width - 1),
      Math.min(Math.floor(d.y0), canvas.height - 1)];
    (d.shift || $("bg-toggle").checked ? p.neg_points : p.points).push(pt);
  }
  promptsChanged();
});

function promptsChanged() {
  for (const [k, p] of S.prompts) {
    if (!p.box && !p.points.length && !p.neg_points.length) S.prompts.delete(k);
  }
  for (const p of S.prompts.values()) if (!S.ids.includes(p.id)) S.ids.push(p.id);
  renderObjects();
  draw();
  drawTimeline();
  showStale();
  savePage();
  requestPreview();
}

function undo() {
  const last = S.undo.pop();
  if (!last) return say("nothing to undo");
  const { prompts, ids } = JSON.parse(last);
  setPrompts(prompts);
  S.ids = ids;
  if (!S.ids.includes(S.current)) S.current = S.ids[0];
  promptsChanged();
}

$("undo").onclick = undo;

$("clear-frame").onclick = () => {
  if (!S.prompts.has(key(S.current, S.frame))) return;
  snapshot();
  S.prompts.delete(key(S.current, S.frame));
  promptsChanged();
};

// -- the preview -----------------------------------------------------------------------

async function requestPreview() {
  if (!S.video || S.playing || S.live) return;
  const frame = S.frame;
  const objects = validPrompts(frame);
  const seq = ++S.previewSeq;
  if (!objects.length) {
    S.preview = null;
    draw();
    describeFrame();
    return;
  }
  try {
    const res = await postJson("/api/preview", { frame, objects });
    const ids = await loadIds(res.labels);
    if (seq !== S.previewSeq) return;
    S.preview = { frame, ids, objects: res.objects, ms: res.ms };
    draw();
    describeFrame();
  } catch (err) { if (seq === S.previewSeq) say(err.message, true); }
}

// -- the list --------------------------------------------------------------------------

function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  for (const id of S.ids) {
    const li = document.createElement("li");
    li.dataset.id = id;
    li.className = id === S.current ? "current" : "";
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colour(id);
    const eye = document.createElement("input");
    eye.type = "checkbox";
    eye.className = "visible";
    eye.checked = !S.hidden.has(id);
    eye.title = `show object ${id}`;
    eye.onclick = (ev) => ev.stopPropagation();
    eye.onchange = () => {
      if (eye.checked) S.hidden.delete(id); else S.hidden.add(id);
      draw();
    };
    const name = document.createElement("input");
    name.type = "text";
    name.className = "name";
    name.value = S.names[id] || "";
    name.placeholder = `Object ${id}`;
    name.title = "what the object is: written to every export";
    name.onchange = () => {
      const text = name.value.trim();
      if (text) S.names[id] = text; else delete S.names[id];
      promptsChanged();
    };
    const frames = document.createElement("span");
    frames.className = "frames";
    for (const p of validPrompts().filter((q) => q.id === id)) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `f${p.frame}`;
      b.title = `prompt on frame ${p.frame}`;
      b.onclick = (ev) => { ev.stopPropagation(); showFrame(p.frame); };
      frames.append(b);
    }
    const del = document.createElement("button");
    del.type = "button";
    del.className = "small";
    del.textContent = "×";
    del.title = `remove object ${id}`;
    del.onclick = (ev) => { ev.stopPropagation(); removeObject(id); };
    li.append(sw, eye, name, frames, del);
    li.onclick = () => { S.current = id; renderObjects(); };
    list.append(li);
  }
}

function removeObject(id) {
  snapshot();
  for (const [k, p] of S.prompts) if (p.id === id) S.prompts.delete(k);
  S.ids = S.ids.filter((o) => o !== id);
  delete S.names[id];
  if (!S.ids.length) S.ids = [1];
  if (!S.ids.includes(S.current)) S.current = S.ids[0];
  promptsChanged();
}

$("add-object").onclick = () => {
  const id = Math.max(0, ...S.ids) + 1;
  if (id > 255) return say("at most 255 objects", true);
  snapshot();
  S.ids.push(id);
  S.current = id;
  renderObjects();
  savePage();
};

$("opacity").oninput = () => { S.opacity = Number($("opacity").value); draw(); };

// -- importing a prompts file ----------------------------------------------------------

$("import").onclick = () => $("import-file").click();
$("import-file").onchange = async () => {
  const file = $("import-file").files[0];
  $("import-file").value = "";
  if (!file || !S.video) return;
  try {
    const res = await postJson("/api/prompts/read", { text: await file.text() });
    snapshot();
    setPrompts(res.objects);
    S.ids = [...new Set(res.objects.map((p) => p.id))];
    S.names = {};
    for (const p of res.objects) if (p.name) S.names[p.id] = p.name;
    S.current = S.ids[0];
    promptsChanged();
    const frames = [...new Set(res.objects.map((p) => p.frame))].length;
    say(`imported ${file.name}: ${S.ids.length} object(s) on ${frames} frame(s)` +
      (res.notes.length ? ` (${res.notes.join("; ")})` : ""));
    showFrame(res.objects[0].frame);
  } catch (err) { say(`${file.name}: ${err.message}`, true); }
};
