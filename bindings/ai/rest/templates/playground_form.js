// The generic playground: reads the form into the model's inputs (files as the schema
// takes them), posts them, and shows the answer: raw image/audio bytes by content type,
// base64 image/audio in the JSON result, its text fields, and the JSON itself.
(() => {
  const form = document.getElementById("pf");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const status = $("pf-status"), send = $("pf-send");
  const result = $("pf-result"), media = $("pf-media"), text = $("pf-text"), json = $("pf-json");

  function base64(buffer) {
    const bytes = new Uint8Array(buffer);
    let out = "";
    for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(out);
  }

  async function fileValue(input) {
    const file = input.files[0];
    const buffer = await file.arrayBuffer();
    const encoding = input.dataset.encoding;
    if (encoding === "bytes") return Array.from(new Uint8Array(buffer));
    if (encoding === "data_uri") return `data:${file.type || "application/octet-stream"};base64,${base64(buffer)}`;
    return base64(buffer);
  }

  async function inputs() {
    const body = {};
    for (const input of form.querySelectorAll("[data-widget]")) {
      const name = input.name, widget = input.dataset.widget, required = input.dataset.required === "true";
      if (widget === "checkbox") {
        if (input.checked !== (input.dataset.default === "true")) body[name] = input.checked;
        continue;
      }
      if (widget === "file") {
        if (input.files.length) body[name] = await fileValue(input);
        else if (required) throw new Error(`choose a file for ${name}`);
        continue;
      }
      const raw = input.value;
      if (raw === "" && !required) continue;
      if (widget === "number") body[name] = Number(raw);
      else if (widget === "integer") body[name] = parseInt(raw, 10);
      else if (widget === "json") {
        try { body[name] = JSON.parse(raw); }
        catch (e) { throw new Error(`${name} is not valid JSON: ${e.message}`); }
      } else body[name] = raw;
    }
    return body;
  }

  function show(kind, src) {
    const el = document.createElement(kind === "image" ? "img" : "audio");
    if (kind === "audio") el.controls = true;
    el.src = src; el.dataset.testid = "result-" + kind;
    if (kind === "image") el.alt = "generated image";
    media.append(el);
  }

  function sniff(b64) {
    if (b64.startsWith("/9j/")) return "image/jpeg";
    if (b64.startsWith("iVBOR")) return "image/png";
    if (b64.startsWith("UklGR")) return "image/webp";
    return "image/png";
  }

  function clear() {
    for (const url of media.querySelectorAll("[src^=blob]")) URL.revokeObjectURL(url.src);
    media.textContent = ""; text.textContent = ""; json.textContent = ""; json.hidden = true;
    text.className = "transcript";
  }


  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear();
    result.hidden = false;
    send.disabled = true; status.textContent = "Running…";
    const started = performance.now();
    try {
      const headers = { "content-type": "application/json" };
      const token = $("pg-token");
      if (token && token.value) headers.authorization = "Bearer " + token.value;
      const body = await inputs();
      const response = await fetch(form.dataset.url, { method: "POST", headers, body: JSON.stringify(body) });
      if (!response.ok) throw new Error(await apiErrorText(response));
      const type = (response.headers.get("content-type") || "").split(";")[0];
      if (type.startsWith("image/") || type.startsWith("audio/")) {
        const blob = await response.blob();
        show(type.startsWith("image/") ? "image" : "audio", URL.createObjectURL(blob));
      } else {
        const data = (await response.json()).result;
        const image = form.dataset.image, audio = form.dataset.audio;
        if (image && data && typeof data[image] === "string") show("image", `data:${sniff(data[image])};base64,${data[image]}`);
        if (audio && data && typeof data[audio] === "string") show("audio", `data:audio/mpeg;base64,${data[audio]}`);
        const parts = form.dataset.text ? form.dataset.text.split(",") : [];
        const answer = parts.find(k => data && typeof data[k] === "string");  // the main one
        text.textContent = answer ? data[answer] : "";
        json.textContent = JSON.stringify(data, null, 2); json.hidden = false;
      }
      status.textContent = `Done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    } catch (err) {
      text.className = "msg error"; text.textContent = err.message; status.textContent = "Failed";
    } finally {
      send.disabled = false;
    }
  });
})();
