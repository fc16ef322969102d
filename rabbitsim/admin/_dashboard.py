"""A one-page dashboard at `/`: queues (ready, unacked and their rates), connections and
exchanges, polled from the API every two seconds. Plain HTML and a little script, nothing
fetched from elsewhere; credentials are asked once and kept for the browser tab."""

DASHBOARD_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rabbitsim management</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
 table { border-collapse: collapse; min-width: 40em; }
 th, td { border-bottom: 1px solid #ddd; padding: .25em .8em; text-align: left; }
 td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
 #status { color: #666; } #login { margin: 1em 0; } .error { color: #b00; }
</style>
</head>
<body>
<h1>rabbitsim &mdash; <span id="version">management</span></h1>
<form id="login" hidden>
 <label>User <input id="user" value="guest"></label>
 <label>Password <input id="password" type="password" value="guest"></label>
 <button>Log in</button> <span id="login-error" class="error"></span>
</form>
<p id="status"></p>
<h2>Queues</h2>
<table id="queues"><thead><tr><th>Virtual host</th><th>Name</th><th>Type</th>
<th class="n">Ready</th><th class="n">Unacked</th><th class="n">Total</th>
<th class="n">Ready /s</th><th class="n">Unacked /s</th><th class="n">Consumers</th></tr></thead>
<tbody></tbody></table>
<h2>Connections</h2>
<table id="connections"><thead><tr><th>Name</th><th>Virtual host</th><th>User</th>
<th class="n">Channels</th><th>Client</th></tr></thead><tbody></tbody></table>
<h2>Exchanges</h2>
<table id="exchanges"><thead><tr><th>Virtual host</th><th>Name</th><th>Type</th>
<th>Durable</th><th>Internal</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const key = "rabbitsim-auth";
function auth() { return sessionStorage.getItem(key); }
async function api(path) {
  const response = await fetch("api/" + path, {headers: {"Authorization": "Basic " + auth()}});
  if (response.status === 401) { throw new Error("unauthorised"); }
  if (!response.ok) { throw new Error(path + ": HTTP " + response.status); }
  return response.json();
}
function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map(cells => {
    const row = document.createElement("tr");
    for (const [value, numeric] of cells) {
      const cell = document.createElement("td");
      cell.textContent = value === undefined || value === null ? "" : String(value);
      if (numeric) { cell.className = "n"; }
      row.appendChild(cell);
    }
    return row;
  }));
}
function rate(details) {
  return details && typeof details.rate === "number" ? details.rate.toFixed(1) : "0.0";
}
async function refresh() {
  if (!auth()) { document.getElementById("login").hidden = false; return; }
  try {
    const [overview, queues, connections, exchanges] = await Promise.all(
      [api("overview"), api("queues"), api("connections"), api("exchanges")]);
    document.getElementById("version").textContent =
      overview.product_name + " " + overview.product_version + " (simulated)";
    fill("queues", queues.map(q => [[q.vhost], [q.name], [q.type], [q.messages_ready, 1],
      [q.messages_unacknowledged, 1], [q.messages, 1], [rate(q.messages_ready_details), 1],
      [rate(q.messages_unacknowledged_details), 1], [q.consumers, 1]]));
    fill("connections", connections.map(c => [
      [c.user_provided_name ? c.name + " (" + c.user_provided_name + ")" : c.name],
      [c.vhost], [c.user], [c.channels, 1],
      [(c.client_properties || {}).product]]));
    fill("exchanges", exchanges.map(e => [[e.vhost], [e.name || "(AMQP default)"], [e.type],
      [e.durable], [e.internal]]));
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error.message === "unauthorised") {
      sessionStorage.removeItem(key);
      document.getElementById("login").hidden = false;
      document.getElementById("login-error").textContent = "login refused";
    } else {
      document.getElementById("status").textContent = "not reachable: " + error.message;
    }
  }
}
document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  const user = document.getElementById("user").value;
  const password = document.getElementById("password").value;
  sessionStorage.setItem(key, btoa(user + ":" + password));
  document.getElementById("login").hidden = true;
  document.getElementById("login-error").textContent = "";
  refresh();
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
