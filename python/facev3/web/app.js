// facev3's page: plain JavaScript over the public API (/v1/info, /v1/embeddings, /v1/rerank),
// no framework and no build step. What a response or a file name holds reaches the page only as
// text (textContent) or attribute values, never as HTML; the page's Content-Security-Policy
// forbids inline scripts and eval.
"use strict";

const KEY_STORAGE = "facev3.api-key"; // per tab (sessionStorage): gone when the tab closes
const LANDMARKS = ["right eye", "left eye", "nose", "right mouth corner", "left mouth corner"];

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  info: null, // the last /v1/info answer
  photos: [], // {name, file, url, card, result}
  picked: [], // up to two faces: {photo, index}
  picks: 0, // counts changes of `picked`, so that a late comparison of older picks is dropped
};

const byId = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// ---- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function callApi(method, path, body) {
  const headers = {};
  if (state.key) headers["X-API-Key"] = state.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "network_error", `the service did not answer (${error.message})`);
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    // not JSON: reported below from the status alone
  }
  if (!response.ok) {
    const error = payload && payload.error;
    throw new ApiError(
      response.status,
      error ? error.code : `http_${response.status}`,
      error ? error.message : response.statusText,
    );
  }
  return payload;
}

function describe(error) {
  const hint = error.status === 401 ? " (enter the service's API key at the top)" : "";
  return `${error.code}: ${error.message}${hint}`;
}

// ---- service info and limits ----------------------------------------------------------------

function formatBytes(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} kB`;
}

function renderInfo(info) {
  const rows = [
    ["version", info.version],
    ["inference backend", info.backend],
    ["detector", info.detector.name],
    ["embedder", `${info.embedder.name} (${info.embedder.embedding_size} floats)`],
    ["calibration", info.calibration.name],
    ["cosine at score 0.5", info.calibration.cosine_threshold],
    ["match from score", info.rerank_threshold],
    ["images per request", info.limits.max_images],
    ["pixels per image", `${(info.limits.max_pixels / 1e6).toFixed(1)} MP`],
    ["request body", formatBytes(info.limits.max_body_bytes)],
    ["candidates per rerank", info.limits.max_candidates],
  ];
  byId("info").replaceChildren(
    ...rows.map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, String(value)))),
  );
}

async function loadInfo() {
  const list = byId("info");
  const problem = byId("info-error");
  list.dataset.state = "loading";
  try {
    state.info = await callApi("GET", "/v1/info");
    renderInfo(state.info);
    problem.hidden = true;
    list.dataset.state = "ok";
  } catch (error) {
    state.info = null;
    list.replaceChildren();
    problem.textContent = describe(error);
    problem.hidden = false;
    list.dataset.state = "error";
  }
  // Optional parts of the service (a gallery search, say) have sections marked data-requires="KEY",
  // shown only when /v1/info reports that key.
  for (const section of document.querySelectorAll("[data-requires]")) {
    section.hidden = !(state.info && section.dataset.requires in state.info);
  }
}

// ---- photos ---------------------------------------------------------------------------------

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(new ApiError(0, "unreadable_file", `${file.name} could not be read`));
    reader.readAsDataURL(file);
  });
}

// Requests within the service's limits: at most max_images photos and about max_body_bytes each
// (base64 adds a third). A photo too large alone still goes alone, and its card shows the 413.
function batches(photos) {
  const limits = state.info ? state.info.limits : { max_images: 1, max_body_bytes: Infinity };
  const budget = limits.max_body_bytes * 0.95;
  const groups = [];
  let group = [];
  let size = 0;
  for (const photo of photos) {
    const bytes = Math.ceil(photo.file.size / 3) * 4 + 256;
    if (group.length && (group.length >= limits.max_images || size + bytes > budget)) {
      groups.push(group);
      group = [];
      size = 0;
    }
    group.push(photo);
    size += bytes;
  }
  if (group.length) groups.push(group);
  return groups;
}

function addFiles(files) {
  const added = [...files].map(addPhoto);
  for (const group of batches(added)) embed(group);
}

function addPhoto(file) {
  const photo = { name: file.name, file, url: URL.createObjectURL(file), result: null };
  const remove = el("button", { type: "button", class: "remove", title: "remove this photo" }, "Remove");
  remove.addEventListener("click", () => removePhoto(photo));
  const image = el("img", { class: "picture", alt: file.name, src: photo.url });
  image.addEventListener("error", () => image.remove()); // not an image: the card shows the service's error
  photo.card = el(
    "article",
    { class: "photo", "data-name": file.name, "data-status": "pending" },
    el("header", {}, el("h3", {}, file.name), el("span", { class: "status" }, "waiting"), remove),
    el("div", { class: "frame" }, image, el("div", { class: "overlay" })),
    el("p", { class: "error", hidden: "" }),
    el("div", { class: "crops" }),
  );
  byId("photos").append(photo.card);
  state.photos.push(photo);
  return photo;
}

function removePhoto(photo) {
  const picked = state.picked.length;
  state.picked = state.picked.filter((pick) => pick.photo !== photo);
  state.photos = state.photos.filter((other) => other !== photo);
  photo.card.remove();
  URL.revokeObjectURL(photo.url);
  if (state.picked.length !== picked) picksChanged();
}

function setStatus(photo, status, text) {
  photo.card.dataset.status = status;
  photo.card.querySelector(".status").textContent = text;
}

function showPhotoError(photo, error) {
  setStatus(photo, "error", "error");
  const message = photo.card.querySelector(".error");
  message.textContent = describe(error);
  message.hidden = false;
  if (error.status !== undefined && error.status !== 422) {
    // The whole request failed (a key, a limit, the service): this photo can be sent again.
    const retry = el("button", { type: "button", class: "retry" }, "Retry");
    retry.addEventListener("click", () => {
      retry.remove();
      embed([photo]);
    });
    message.append(" ", retry);
  }
}

async function embed(group) {
  for (const photo of group) {
    photo.card.querySelector(".error").hidden = true;
    setStatus(photo, "pending", "finding faces…");
  }
  let payload;
  try {
    const images = await Promise.all(group.map(async (photo) => ({ id: photo.name, data: await readBase64(photo.file) })));
    payload = await callApi("POST", "/v1/embeddings", { images, return_aligned: true });
  } catch (error) {
    for (const photo of group) showPhotoError(photo, error);
    return;
  }
  for (const result of payload.images) {
    const photo = group[result.index];
    if (!state.photos.includes(photo)) continue; // removed while the request ran
    if (result.status === "ok") {
      renderFaces(photo, result);
    } else {
      showPhotoError(photo, new ApiError(undefined, result.error.code, result.error.message)); // this image only
    }
  }
}

function percent(value, total) {
  return `${(100 * value) / total}%`;
}

function renderFaces(photo, result) {
  photo.result = result;
  const faces = result.faces;
  const overlay = photo.card.querySelector(".overlay");
  const crops = photo.card.querySelector(".crops");
  overlay.replaceChildren();
  crops.replaceChildren();
  faces.forEach((face, index) => {
    const [x1, y1, x2, y2] = face.bbox;
    const label = `face ${index + 1} of ${photo.name}, detection score ${face.score.toFixed(2)}`;
    // Positions go through the style object (CSSOM), which the CSP allows; style attributes it would block.
    const box = el("button", { type: "button", class: "face-box", "data-face": index, title: label, "aria-label": label });
    Object.assign(box.style, {
      left: percent(x1, result.width),
      top: percent(y1, result.height),
      width: percent(x2 - x1, result.width),
      height: percent(y2 - y1, result.height),
    });
    box.append(el("span", { class: "face-score" }, `${index + 1} · ${face.score.toFixed(2)}`));
    box.addEventListener("click", () => togglePick(photo, index));
    overlay.append(box);
    (face.landmarks || []).forEach(([x, y], point) => {
      const dot = el("span", { class: "landmark", title: LANDMARKS[point] || "landmark" });
      Object.assign(dot.style, { left: percent(x, result.width), top: percent(y, result.height) });
      overlay.append(dot);
    });
    if (face.aligned) {
      const crop = el(
        "button",
        { type: "button", class: "crop", "data-face": index, title: label },
        el("img", { src: `data:image/png;base64,${face.aligned}`, alt: `aligned crop of ${label}` }),
        el("span", {}, `${index + 1}`),
      );
      crop.addEventListener("click", () => togglePick(photo, index));
      crops.append(crop);
    }
  });
  photo.card.dataset.faces = faces.length;
  let text = faces.length === 1 ? "1 face" : `${faces.length} faces`;
  if (result.duplicate_of !== undefined) text += " (same photo as another in its request)";
  setStatus(photo, "ok", faces.length ? text : "no face found");
  renderPicks();
}

// ---- picking and comparing ------------------------------------------------------------------

// A click picks a face, or unpicks it if it was picked; with two already picked, the second is replaced.
function togglePick(photo, index) {
  const at = state.picked.findIndex((pick) => pick.photo === photo && pick.index === index);
  if (at >= 0) state.picked.splice(at, 1);
  else if (state.picked.length < 2) state.picked.push({ photo, index });
  else state.picked[1] = { photo, index };
  picksChanged();
}

function picksChanged() {
  state.picks += 1;
  const result = byId("compare-result");
  result.replaceChildren();
  for (const name of ["state", "score", "cosine", "match"]) delete result.dataset[name];
  renderPicks();
}

function renderPicks() {
  for (const node of document.querySelectorAll(".picked-0, .picked-1")) node.classList.remove("picked-0", "picked-1");
  [0, 1].forEach((slot) => {
    const figure = byId(`slot-${slot}`);
    const pick = state.picked[slot];
    const which = slot === 0 ? "first" : "second";
    if (!pick) {
      figure.classList.remove("filled");
      figure.replaceChildren(el("figcaption", {}, `${which} face: not picked`));
      return;
    }
    for (const node of pick.photo.card.querySelectorAll(`[data-face="${pick.index}"]`)) node.classList.add(`picked-${slot}`);
    const face = pick.photo.result.faces[pick.index];
    figure.classList.add("filled");
    figure.replaceChildren(
      ...(face.aligned ? [el("img", { src: `data:image/png;base64,${face.aligned}`, alt: `${which} face` })] : []),
      el("figcaption", {}, `${pick.photo.name}, face ${pick.index + 1}`),
    );
  });
  byId("compare").disabled = state.picked.length !== 2;
}

async function compare() {
  const [query, candidate] = state.picked.map((pick) => pick.photo.result.faces[pick.index]);
  const picks = state.picks;
  const result = byId("compare-result");
  result.dataset.state = "pending";
  result.replaceChildren(el("p", {}, "comparing…"));
  try {
    const answer = await callApi("POST", "/v1/rerank", {
      query: query.embedding,
      candidates: [{ id: "second", embedding: candidate.embedding }],
    });
    if (picks !== state.picks) return;
    const hit = answer.results[0];
    Object.assign(result.dataset, { state: "done", score: hit.score, cosine: hit.cosine, match: hit.match });
    result.replaceChildren(
      el("p", { class: "verdict" }, hit.match ? "Match: the same person" : "No match: different people"),
      el(
        "p",
        { class: "numbers" },
        `calibrated score ${hit.score.toFixed(3)} (match from ${answer.threshold}), ` +
          `cosine ${hit.cosine.toFixed(3)}, calibration ${answer.diagnostics.calibration}`,
      ),
    );
    result.scrollIntoView({ block: "nearest" });
  } catch (error) {
    if (picks !== state.picks) return;
    result.dataset.state = "error";
    result.replaceChildren(el("p", { class: "error", role: "alert" }, describe(error)));
  }
}

// ---- wiring ---------------------------------------------------------------------------------

// ---- gallery search (when /v1/info reports a gallery) --------------------------------------------

async function searchGallery(file) {
  const problem = byId("gallery-error");
  const results = byId("gallery-results");
  problem.hidden = true;
  results.replaceChildren(el("p", { class: "hint" }, "searching…"));
  try {
    const answer = await callApi("POST", "/v1/gallery/search", { image: await readBase64(file), top_k: 10 });
    if (answer.error) throw new ApiError(200, answer.error.code, answer.error.message);
    results.replaceChildren(
      ...(answer.results.length ? answer.results.map(renderMatch) : [el("p", { class: "hint" }, "the gallery is empty")]),
    );
  } catch (error) {
    results.replaceChildren();
    problem.textContent = describe(error);
    problem.hidden = false;
  }
}

function renderMatch(result) {
  const crop = result.crop ? el("img", { src: `data:image/png;base64,${result.crop}`, alt: result.label || "face" }) : "";
  const verdict = result.match ? "match" : "no match";
  return el(
    "figure",
    { class: "match", "data-match": String(result.match), "data-label": result.label },
    crop,
    el("figcaption", {}, `${result.label || "(no label)"}: ${verdict}, score ${result.score.toFixed(3)}`),
  );
}

function start() {
  const key = byId("api-key");
  key.value = state.key;
  const takeKey = () => {
    state.key = key.value.trim();
    if (state.key) sessionStorage.setItem(KEY_STORAGE, state.key);
    else sessionStorage.removeItem(KEY_STORAGE);
    loadInfo();
  };
  key.addEventListener("change", takeKey);
  byId("key-form").addEventListener("submit", (event) => {
    event.preventDefault(); // Enter takes the key; the form is never sent anywhere
    takeKey();
  });

  const files = byId("files");
  files.addEventListener("change", () => {
    addFiles(files.files);
    files.value = ""; // the same file chosen again is a new change
  });

  // Files dropped anywhere on the page are taken (and never opened by the browser in place of it).
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });

  byId("compare").addEventListener("click", compare);
  const galleryFile = byId("gallery-file");
  galleryFile.addEventListener("change", () => {
    if (galleryFile.files.length) searchGallery(galleryFile.files[0]);
    galleryFile.value = "";
  });
  loadInfo();
}

start();
