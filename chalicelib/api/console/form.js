// Creating and editing a job (#/new, #/jobs/{id}/edit): the API's own error messages beside the
// field they name, and a preview of the next start times while typing.
import { ApiError, api, jobPath } from './api.js';
import { h, say, setText } from './dom.js';
import { fmtRelative, fmtTime } from './time.js';
import { main, mount, report } from './view.js';

const PREVIEW_DELAY_MS = 350;

// kind: text | textarea | int | json | select. Advanced fields are sent only when filled.
const FORM_FIELDS = [
  { name: 'name', label: 'Name', kind: 'text', required: true, hint: '1–128 printable ASCII characters, unique.' },
  { name: 'description', label: 'Description', kind: 'textarea', nullable: true },
  { name: 'agentId', label: 'Agent id', kind: 'text', required: true, hint: 'The UUID of the agent that runs the job.' },
  { name: 'schedule', label: 'Schedule', kind: 'text', timing: 'schedule',
    hint: 'Cron (5 fields, or @daily…) in the timezone, or an ISO-8601 date-time for one run.' },
  { name: 'interval', label: 'Interval (ms)', kind: 'int', timing: 'interval', hint: 'Milliseconds between runs.' },
  { name: 'timezone', label: 'Timezone', kind: 'text', initial: 'UTC', hint: 'IANA name, e.g. Europe/Paris.' },
  { name: 'payload', label: 'Payload (JSON object)', kind: 'json', required: true, initial: '{}' },
  { name: 'retryPolicy', label: 'Retry policy (JSON)', kind: 'json', advanced: true, nullable: true,
    hint: 'e.g. {"maxAttempts": 3, "initialDelayMs": 1000}' },
  { name: 'timeoutMs', label: 'Timeout (ms)', kind: 'int', advanced: true },
  { name: 'heartbeatTimeoutMs', label: 'Heartbeat timeout (ms)', kind: 'int', advanced: true, nullable: true },
  { name: 'overlap', label: 'Overlap', kind: 'select', advanced: true, choices: ['', 'skip', 'queue', 'allow'] },
  { name: 'maxConsecutiveFailures', label: 'Pause after this many failures in a row', kind: 'int', advanced: true, nullable: true },
  { name: 'startAt', label: 'Start at (ISO date-time)', kind: 'text', advanced: true, nullable: true },
  { name: 'endAt', label: 'End at (ISO date-time)', kind: 'text', advanced: true, nullable: true },
  { name: 'maxRuns', label: 'Max runs', kind: 'int', advanced: true, nullable: true },
  { name: 'catchupWindowMs', label: 'Catch-up window (ms)', kind: 'int', advanced: true, nullable: true },
  { name: 'budget', label: 'Budget (JSON)', kind: 'json', advanced: true, nullable: true,
    hint: 'e.g. {"maxCostUsdPerDay": 5, "maxTokensPerDay": 100000}' },
];

function control(field) {
  const id = `f-${field.name}`;
  const describedBy = [field.hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  const attrs = { id, name: field.name, 'aria-describedby': describedBy, required: field.required };
  let input;
  if (field.kind === 'textarea' || field.kind === 'json') {
    input = h('textarea', { ...attrs, rows: field.kind === 'json' ? 4 : 2, spellcheck: 'false' });
  } else if (field.kind === 'select') {
    input = h('select', attrs, field.choices.map((c) => h('option', { value: c }, c || '(default)')));
  } else {
    input = h('input', { ...attrs, type: 'text', inputmode: field.kind === 'int' ? 'numeric' : null,
      spellcheck: 'false', autocomplete: 'off' });
  }
  const error = h('p', { id: `${id}-error`, class: 'field-error', hidden: true });
  const wrapper = h('div', { class: 'field', 'data-field': field.name },
    h('label', { for: id }, field.label), input,
    field.hint ? h('p', { id: `${id}-hint`, class: 'hint' }, field.hint) : null, error);
  return { field, input, error, wrapper };
}

function valueOf(job, field) {
  const value = job ? job[field.name] : undefined;
  if (value === undefined || value === null) return field.initial || '';
  return field.kind === 'json' ? JSON.stringify(value, null, 2) : String(value);
}

/** The form's value of a field for the API; bad JSON throws (reported beside the field). */
function read(ctl) {
  const raw = ctl.input.value.trim();
  const { field } = ctl;
  if (raw === '') return field.nullable ? null : undefined;
  if (field.kind === 'int') return /^-?\d+$/.test(raw) ? Number(raw) : raw; // the API names a non-integer
  if (field.kind === 'json') {
    try { return JSON.parse(raw); } catch (error) { throw Object.assign(new Error(`${field.name}: is not valid JSON (${error.message})`), { field: field.name }); }
  }
  return raw;
}

export async function showEdit(id) {
  const answer = await api('GET', jobPath(id));
  await showForm(answer.data);
}

export async function showForm(job) {
  const editing = Boolean(job);
  mount(editing ? `Edit ${job.name}` : 'New job');
  const controls = new Map(FORM_FIELDS.map((f) => [f.name, control(f)]));
  controls.forEach((ctl) => { ctl.input.value = valueOf(job, ctl.field); });
  const kind = editing && job.interval !== null ? 'interval' : 'schedule';
  const radios = ['schedule', 'interval'].map((value) => h('label', { class: 'inline' },
    h('input', { type: 'radio', name: 'timing', value, id: `timing-${value}`, checked: value === kind }),
    value === 'schedule' ? ' Cron or date' : ' Interval'));
  const timing = h('fieldset', { class: 'timing' }, h('legend', {}, 'Timing'), radios);
  const summary = h('div', { id: 'form-error', class: 'form-error', role: 'alert', hidden: true });
  const preview = h('ol', { id: 'preview-list', class: 'upcoming' });
  const previewError = h('p', { id: 'preview-error', class: 'field-error', hidden: true });
  const previewBox = h('section', { class: 'preview', 'aria-labelledby': 'preview-title', 'aria-live': 'polite' },
    h('h2', { id: 'preview-title' }, 'Next start times'), previewError, preview);
  const submit = h('button', { type: 'submit', id: 'save-job' }, editing ? 'Save changes' : 'Create job');
  const advanced = h('details', { class: 'advanced', open: editing && FORM_FIELDS.some((f) => f.advanced && job[f.name] !== undefined && job[f.name] !== null) },
    h('summary', {}, 'Long runs and guard rails'),
    FORM_FIELDS.filter((f) => f.advanced).map((f) => controls.get(f.name).wrapper));
  const base = FORM_FIELDS.filter((f) => !f.advanced && !f.timing).map((f) => controls.get(f.name).wrapper);
  const form = h('form', { id: 'job-form', novalidate: true, class: 'job-form' },
    summary, base.slice(0, 3), timing, controls.get('schedule').wrapper, controls.get('interval').wrapper,
    base.slice(3), previewBox, advanced,
    h('div', { class: 'buttons' }, submit,
      h('a', { class: 'button secondary', href: editing ? `#/jobs/${encodeURIComponent(job.id)}` : '#/' }, 'Cancel')));
  main.append(form);

  const chosen = () => form.querySelector('input[name="timing"]:checked').value;
  const showTiming = () => {
    controls.get('schedule').wrapper.hidden = chosen() !== 'schedule';
    controls.get('interval').wrapper.hidden = chosen() !== 'interval';
  };
  showTiming();

  const clearErrors = () => {
    summary.hidden = true;
    controls.forEach((ctl) => { ctl.error.hidden = true; setText(ctl.error, ''); ctl.input.removeAttribute('aria-invalid'); });
  };
  const showError = (message, fieldName) => {
    const name = fieldName || String(message).split(':')[0].split('.')[0].trim();
    const ctl = controls.get(name);
    summary.replaceChildren(h('p', {}, ctl ? `The API refused the job: ${ctl.field.label}.` : 'The API refused the job.'),
      h('p', { class: 'message' }, message));
    summary.hidden = false;
    if (!ctl) { summary.setAttribute('tabindex', '-1'); summary.focus(); return; }
    if (ctl.wrapper.closest('details')) ctl.wrapper.closest('details').open = true;
    setText(ctl.error, message);
    ctl.error.hidden = false;
    ctl.input.setAttribute('aria-invalid', 'true');
    ctl.input.focus();
  };

  let previewTimer = null;
  let previewSeq = 0;
  const updatePreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const seq = ++previewSeq;
      const body = { timezone: controls.get('timezone').input.value.trim() || 'UTC', count: 5 };
      try {
        const value = read(controls.get(chosen()));
        if (value === undefined || value === null) { preview.replaceChildren(); previewError.hidden = true; return; }
        body[chosen()] = value;
        const times = (await api('POST', '/schedules/preview', body)).data.next;
        if (seq !== previewSeq) return;
        previewError.hidden = true;
        preview.replaceChildren(...(times.length ? times : ['none']).map((t) => h('li', {}, t === 'none' ? t : `${fmtTime(t)} (${fmtRelative(t)})`)));
      } catch (error) {
        if (seq !== previewSeq) return;
        setText(previewError, error.message);
        previewError.hidden = false;
        preview.replaceChildren();
      }
    }, PREVIEW_DELAY_MS);
  };
  ['schedule', 'interval', 'timezone'].forEach((n) => controls.get(n).input.addEventListener('input', updatePreview));
  radios.forEach((label) => label.firstElementChild.addEventListener('change', () => { showTiming(); updatePreview(); }));
  updatePreview();

  const bodyOf = () => {
    const body = {};
    for (const ctl of controls.values()) {
      const { field } = ctl;
      if (field.timing && field.timing !== chosen()) continue;
      const value = read(ctl);
      if (editing) {
        const before = job[field.name] === undefined ? undefined : job[field.name];
        const changed = JSON.stringify(value === undefined ? null : value) !== JSON.stringify(before === undefined ? null : before);
        if (changed && !(before === undefined && (value === null || value === undefined))) body[field.name] = value === undefined ? null : value;
      } else if (value !== undefined && value !== null) {
        body[field.name] = value;
      }
    }
    if (!editing && body[chosen()] === undefined) body[chosen()] = null; // the API names the missing field
    return body;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    let body;
    try { body = bodyOf(); } catch (error) { showError(error.message, error.field); return; }
    submit.disabled = true;
    try {
      const saved = editing
        ? (Object.keys(body).length ? (await api('PATCH', jobPath(job.id), body)).data : job)
        : (await api('POST', '/jobs', body)).data;
      say(editing ? `Job ${saved.name} saved.` : `Job ${saved.name} created.`);
      location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
    } catch (error) {
      if (error instanceof ApiError) showError(error.message);
      else report(error);
    } finally {
      submit.disabled = false;
    }
  });
}
