// The console's only script: copy buttons, and the live tail (Server-Sent Events).
// No framework and nothing from elsewhere: served by the receiver, allowed by its CSP.
"use strict";

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  return Promise.resolve();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  copyText(button.dataset.copy).then(() => {
    button.textContent = "copied";
    setTimeout(() => { button.textContent = "copy"; }, 1200);
  }, () => { button.textContent = "select it"; });
});

function cell(row, content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  row.appendChild(td);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function tailRow(base, e) {
  const row = document.createElement("tr");
  row.dataset.seq = e.seq;
  row.className = "fresh" + (e.quarantined ? " quarantined" : "");
  cell(row, e.received_at, "when");
  cell(row, e.type);
  cell(row, link(base + "/calls/" + encodeURIComponent(e.call_id), e.call_id));
  const id = cell(row, link(base + "/events/" + encodeURIComponent(e.id), e.id));
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.dataset.copy = e.id;
  copy.textContent = "copy";
  id.append(" ", copy);
  cell(row, e.line, "line");
  return row;
}

function startTail(table) {
  const body = table.tBodies[0];
  const state = document.getElementById("tail-state");
  const base = table.dataset.base;
  const keep = 500;
  const show = (name) => { state.dataset.state = name; state.textContent = name; };
  const source = new EventSource(table.dataset.stream);
  source.onopen = () => show("live");
  source.onerror = () => show(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  source.addEventListener("stored", (message) => {
    body.appendChild(tailRow(base, JSON.parse(message.data)));
    while (body.rows.length > keep) body.deleteRow(0);
    window.scrollTo(0, document.body.scrollHeight);
  });
  source.addEventListener("skipped", (message) => {
    const row = document.createElement("tr");
    row.className = "skipped";
    const td = cell(row, JSON.parse(message.data).count + " more events were stored meanwhile (not shown)");
    td.colSpan = 5;
    body.appendChild(row);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("tail");
  if (table) startTail(table);
});
