// The text-generation playground: posts the conversation with stream: true and renders
// each SSE `data: {"response": ...}` frame as it arrives (fetch + ReadableStream).
(() => {
  const form = document.getElementById("pg");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const chat = form.dataset.chat === "true";
  const transcript = $("pg-transcript"), status = $("pg-status");
  const send = $("pg-send"), stop = $("pg-stop");
  let history = [], controller = null;

  function bubble(role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.dataset.testid = "msg-" + role;
    const who = document.createElement("span");
    who.className = "who"; who.textContent = role;
    const body = document.createElement("span");
    body.className = "text"; body.textContent = text;
    div.append(who, body);
    transcript.append(div);
    return body;
  }

  function inputs(userText) {
    const body = { stream: true };
    const max = parseInt($("pg-max").value, 10);
    if (!Number.isNaN(max)) body.max_tokens = max;
    const temp = $("pg-temp").value;
    if (temp !== "") body.temperature = parseFloat(temp);
    if (chat) {
      const system = $("pg-system") ? $("pg-system").value.trim() : "";
      body.messages = [...(system ? [{ role: "system", content: system }] : []), ...history,
                       { role: "user", content: userText }];
    } else {
      body.prompt = userText;
    }
    return body;
  }


  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const userText = $("pg-user").value.trim();
    if (!userText) return;
    const headers = { "content-type": "application/json" };
    const token = $("pg-token");
    if (token && token.value) headers.authorization = "Bearer " + token.value;
    const body = inputs(userText);
    bubble("user", userText);
    const out = bubble("assistant", "");
    out.parentElement.classList.add("cursor");
    $("pg-user").value = "";
    send.disabled = true; stop.disabled = false; status.textContent = "Generating…";
    controller = new AbortController();
    let reply = "", failed = false;
    const started = performance.now();
    try {
      const response = await fetch(form.dataset.url, {
        method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
      if (!response.ok) throw new Error(await apiErrorText(response));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "", done = false;
      while (!done) {
        const chunk = await reader.read();
        if (chunk.done) break;
        buffer += chunk.value.replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const data = event.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trimStart()).join("\n");
          if (!data) continue;
          if (data === "[DONE]") { done = true; break; }
          const frame = JSON.parse(data);
          if (frame.error) throw new Error(typeof frame.error === "string" ? frame.error : JSON.stringify(frame.error));
          if (frame.response) { reply += frame.response; out.textContent = reply; }
          if (frame.usage) {
            const secs = (performance.now() - started) / 1000;
            status.textContent = `${frame.usage.completion_tokens} tokens in ${secs.toFixed(1)} s ` +
              `(prompt ${frame.usage.prompt_tokens})`;
          }
        }
      }
      if (!status.textContent.includes("tokens")) status.textContent = "Done";
    } catch (err) {
      failed = true;
      if (err.name === "AbortError") { status.textContent = "Stopped"; failed = !reply; }
      else { out.parentElement.className = "msg error"; out.textContent = err.message; status.textContent = "Failed"; }
    } finally {
      out.parentElement.classList.remove("cursor");
      send.disabled = false; stop.disabled = true; controller = null;
    }
    if (!failed || reply) history.push({ role: "user", content: userText }, { role: "assistant", content: reply });
  });
  stop.addEventListener("click", () => controller && controller.abort());
  $("pg-clear").addEventListener("click", () => { history = []; transcript.textContent = ""; status.textContent = ""; });
})();
