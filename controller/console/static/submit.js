// The submit form: choosing an operation swaps in its parameters, rendered by
// the server from the operation's JSON Schema (GET /ui/submit/fields).
const form = document.querySelector("form.submit");
const params = document.getElementById("params");

async function showFields(operation) {
  const url = `${form.dataset.fieldsUrl}?operation=${encodeURIComponent(operation)}`;
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (response.ok) params.innerHTML = await response.text();
}

function pickTarget(kind) {
  const radio = document.getElementById(`target-${kind}`);
  if (radio) radio.checked = true;
}

if (form) {
  form.operation.addEventListener("change", () => showFields(form.operation.value));
  // Choosing an agent or typing a label picks that kind of target.
  form.target_host.addEventListener("change", () => pickTarget("host"));
  form.target_label.addEventListener("input", () => pickTarget("label"));
}
