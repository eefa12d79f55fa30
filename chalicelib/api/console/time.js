// Times and durations. The API speaks ISO-8601 UTC; the console shows each time in UTC (the
// default) or in the browser's local time, as the header's toggle says. The choice is kept in
// localStorage (it is a display preference, not a secret), written only when the user toggles.

const MODE_KEY = 'agentos.console.timeMode';
const listeners = new Set();

export function timeMode() {
  try { return localStorage.getItem(MODE_KEY) === 'local' ? 'local' : 'utc'; } catch (e) { return 'utc'; }
}

export function setTimeMode(mode) {
  try { localStorage.setItem(MODE_KEY, mode === 'local' ? 'local' : 'utc'); } catch (e) { /* private mode */ }
  listeners.forEach((listener) => listener(timeMode()));
}

export function onTimeMode(listener) { listeners.add(listener); }

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** The browser's offset from UTC at ``date``, as "UTC+09:00". */
export function offsetLabel(date) {
  const minutes = -(date || new Date()).getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const size = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(size / 60))}:${pad(size % 60)}`;
}

/** What the times on the page are in, for hints ("UTC" or "local time, UTC+09:00"). */
export function zoneName() {
  return timeMode() === 'local' ? `local time (${offsetLabel()})` : 'UTC';
}

/** [date "YYYY-MM-DD", time "HH:MM:SS", zone label] of an ISO time in the chosen mode. */
function parts(iso) {
  if (timeMode() !== 'local') {
    const text = iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, '');
    return [text.slice(0, 10), text.slice(11), 'UTC'];
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return [iso, '', ''];
  return [`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`, offsetLabel(d)];
}

/** A full time: "2026-12-06 08:00:00 UTC" or "2026-12-06 17:00:00 UTC+09:00". */
export function fmtTime(iso) {
  if (!iso) return '—';
  const [day, time, zone] = parts(iso);
  return [day, time, zone].filter(Boolean).join(' ');
}

/** A compact time for table cells: the time of day when it is today (in the shown zone), else the date too. */
export function fmtShort(iso) {
  if (!iso) return '—';
  const [day, time] = parts(iso);
  const [today] = parts(new Date().toISOString());
  return day === today ? time : `${day} ${time}`;
}

export function fmtRelative(iso) {
  if (!iso) return '';
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const amount = size < 90 ? `${size} s` : size < 5400 ? `${Math.round(size / 60)} min`
    : size < 172800 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86400)} d`;
  return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
