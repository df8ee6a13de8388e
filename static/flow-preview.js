// Frontdesk flow preview: keeps a flow run's state in the page and asks the server to advance
// it (POST {state, event} -> {state, actions}); the server runs the pure interpreter on the
// saved flow and stores nothing. Every text is set with textContent, never as HTML.
(function () {
  'use strict';

  const panel = document.getElementById('flow-preview');
  if (!panel) return;
  const log = document.getElementById('preview-log');
  const composer = document.getElementById('preview-composer');
  const input = document.getElementById('preview-input');
  const restart = document.getElementById('preview-restart');
  const stepUrl = panel.dataset.stepUrl;
  const csrf = panel.dataset.csrf;

  let state = { current: null, interacted: false, finished: false };
  let busy = false;
  let run = 0; // a restart makes answers to earlier requests stale

  function line(className, text, meta) {
    const el = document.createElement('div');
    el.className = className;
    if (meta) {
      const m = document.createElement('div');
      m.className = 'meta';
      m.textContent = meta;
      el.appendChild(m);
    }
    const t = document.createElement('div');
    t.className = 'text';
    t.textContent = text;
    el.appendChild(t);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  const bot = (text) => line('bubble bot', text, 'Bot');
  const visitor = (text) => line('bubble visitor', text);
  const system = (text) => line('bubble system', text);

  // Buttons of steps the run has left can no longer be clicked.
  function disablePastButtons() {
    log.querySelectorAll('.quick-replies button').forEach((b) => {
      b.disabled = true;
    });
    log.querySelectorAll('.quick-replies').forEach((group) => group.classList.add('past'));
  }

  function quickReplies(stepId, buttons) {
    if (!buttons.length) return;
    const group = document.createElement('div');
    group.className = 'quick-replies';
    group.dataset.step = stepId;
    buttons.forEach((button) => {
      if (button.url) {
        const a = document.createElement('a');
        a.href = button.url;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.className = 'quick-reply link-reply';
        a.textContent = button.label + ' ↗';
        group.appendChild(a);
        return;
      }
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'quick-reply';
      b.dataset.button = button.id;
      b.textContent = button.label;
      b.addEventListener('click', () => {
        if (busy) return;
        b.classList.add('chosen');
        send({ type: 'choose', button_id: button.id, step_id: stepId });
      });
      group.appendChild(b);
    });
    log.appendChild(group);
    log.scrollTop = log.scrollHeight;
  }

  function context(map) {
    return Object.keys(map || {})
      .map((key) => key + '=' + map[key])
      .join(', ');
  }

  function show(action) {
    switch (action.type) {
      case 'welcome':
        line('bubble welcome', action.text, 'Welcome bubble');
        break;
      case 'say':
        bot(action.text);
        quickReplies(action.step_id, action.buttons || []);
        break;
      case 'prompt':
        bot(action.text);
        break;
      case 'reprompt':
        bot(action.reason + ' ' + action.text);
        break;
      case 'clicked':
        visitor(action.label);
        break;
      case 'store':
        system('Would store ' + action.field + ': ' + action.value + ' (not in the preview)');
        break;
      case 'tag':
        system('Tagged: ' + action.tags.join(', '));
        break;
      case 'handover': {
        if (action.message) bot(action.message);
        const vars = context(action.context);
        if (action.reason === 'visitor_typed') {
          system('Handed over to people: the visitor typed instead of choosing a button');
        } else {
          system('Handed over to people' + (vars ? ': ' + vars : ''));
        }
        break;
      }
      case 'end':
        if (action.message) bot(action.message);
        system('Conversation resolved');
        break;
      default:
        break;
    }
  }

  async function send(event) {
    if (busy) return;
    busy = true;
    const mine = run;
    try {
      const response = await fetch(stepUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ state: state, event: event }),
      });
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      if (mine !== run) return;
      if (!body) {
        system('The preview failed (HTTP ' + response.status + '). Reload the page.');
        return;
      }
      if (body.error) {
        system(body.error.message);
        return;
      }
      disablePastButtons();
      state = body.state;
      body.actions.forEach(show);
      if (state.finished) system('The flow finished. Restart to try again.');
    } catch (_) {
      if (mine === run) system('The server cannot be reached. Try again.');
    } finally {
      if (mine === run) busy = false;
    }
  }

  function start() {
    run += 1;
    busy = false;
    state = { current: null, interacted: false, finished: false };
    log.textContent = '';
    send({ type: 'start' });
  }

  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    visitor(text);
    send({ type: 'text', text: text });
  });
  restart.addEventListener('click', start);
  start();
})();
