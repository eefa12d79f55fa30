// DOM helpers. Every piece of API data reaches the page through textContent or an attribute set
// by setAttribute, never as markup: a job named <img src=x onerror=…> stays text.

/** An element with attributes (on* are listeners) and children (strings become text). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Set an element's text only when it changed (no needless layout, no flicker). */
export function setText(el, value) {
  const text = value === null || value === undefined ? '' : String(value);
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) el.removeAttribute(name);
  else if (el.getAttribute(name) !== String(value)) el.setAttribute(name, String(value));
}

const notice = document.getElementById('notice');
let saidAt = 0;

/** A message in the notice line under the header (an error in red). */
export function say(message, isError) {
  saidAt = Date.now();
  setText(notice, message);
  notice.classList.toggle('error', Boolean(isError));
}

/** Clear the notice unless an action said something within the last second. */
export function clearStaleNotice() {
  if (Date.now() - saidAt > 1000) say('');
}

/** A table whose rows are kept per key and updated in place. */
export function keyedTable(caption, columns, attrs) {
  const tbody = h('tbody');
  const table = h('table', { class: 'grid', ...(attrs || {}) },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    tbody);
  const sync = (items, keyOf) => {
    const old = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
    let previous = null;
    for (const item of items) {
      const key = keyOf(item);
      let tr = old.get(key);
      if (!tr) {
        tr = h('tr', { 'data-key': key }, columns.map((c) => h('td', { 'data-label': c.label, class: c.cls })));
      }
      old.delete(key);
      columns.forEach((c, i) => c.fill(tr.children[i], item));
      const wanted = previous ? previous.nextElementSibling : tbody.firstElementChild;
      if (wanted !== tr) tbody.insertBefore(tr, wanted);
      previous = tr;
    }
    old.forEach((tr) => tr.remove());
  };
  return { table, tbody, sync };
}

/** A cell holding one link (created once, then only its text and href change). */
export function linkCell(td, text, href) {
  let a = td.firstElementChild;
  if (!a || a.tagName !== 'A') { a = h('a'); td.replaceChildren(a); }
  setAttr(a, 'href', href);
  setText(a, text);
}

export function badge(td, status) {
  let span = td.firstElementChild;
  if (!span) { span = h('span'); td.append(span); }
  setAttr(span, 'class', `badge ${String(status || 'none').split(' ')[0]}`);
  setText(span, status || '—');
}

export function codeCell(td, value, format) {
  let code = td.firstElementChild;
  if (!code) { code = h('code'); td.append(code); }
  setText(code, format(value));
}

/** The confirmation dialog; resolves true when the user confirmed. */
export function confirmAction(text, okLabel) {
  const dialog = document.getElementById('confirm-dialog');
  setText(document.getElementById('confirm-text'), text);
  setText(document.getElementById('confirm-ok'), okLabel || 'Delete');
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** A <dl> of label/value pairs kept per key and updated in place. */
export function fieldList() {
  const dl = h('dl', { class: 'fields' });
  const cells = new Map();
  /** The <dd> of ``key`` (made on first use, after the others). */
  const cell = (key, label) => {
    let dd = cells.get(key);
    if (!dd) {
      const dt = h('dt', { 'data-field': key }, label);
      dd = h('dd', { 'data-field': key });
      dl.append(dt, dd);
      cells.set(key, dd);
    }
    return dd;
  };
  /** Show or hide a field's pair. */
  const show = (key, shown) => {
    const dd = cells.get(key);
    if (!dd) return;
    dd.hidden = !shown;
    dd.previousElementSibling.hidden = !shown;
  };
  return { dl, cell, show };
}
