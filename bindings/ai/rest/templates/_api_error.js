// The message of a failed REST answer: its v4 envelope's errors, else the status line
// (shared by the playgrounds).
async function apiErrorText(response) {
  try {
    const data = await response.json();
    if (data.errors && data.errors.length) return data.errors.map(e => e.message).join("; ");
    return JSON.stringify(data);
  } catch (e) { return response.status + " " + response.statusText; }
}
