// Frontdesk inbox: keeps the inbox, visitors and supervisor pages live over /ws/agent by
// re-fetching the server-rendered blocks of the page (no HTML is built here), sends replies
// without a reload, expands /shortcuts, relays typing, and rings for new conversations. The
// supervisor page only watches (`?watch=1`: its user is not made available for conversations)
// and counts its waiting times up every second.
(function () {
  'use strict';

  const BACKOFF_BASE_MS = 500; // first reconnect comes fast: most drops are deploys or blips
  const BACKOFF_CAP_MS = 15000; // an agent never waits long to be live again
  const REFRESH_DEBOUNCE_MS = 120; // a burst of events (message + conversation) becomes one fetch
  const REFRESH_MAX_WAIT_MS = 1000; // ...but a steady stream of events still refreshes once a second
  const TYPING_IDLE_MS = 3000; // send typing off after this much keyboard silence
  const TYPING_HIDE_MS = 6000; // hide "Visitor is typing" if the off frame never comes
  const SUPERVISOR_POLL_MS = 30000; // events keep the supervisor page live; this only backs them up
  const TICK_MS = 1000; // waiting times count up by the second

  const inbox = document.getElementById('inbox');
  const visitorsPage = document.querySelector('[data-live-visitors]');
  const supervisorPage = document.querySelector('[data-live-supervisor]');
  if (!inbox && !visitorsPage && !supervisorPage) return;
  const watching = !inbox && !visitorsPage;

  const selected = inbox ? inbox.dataset.selected : '';
  const selectedVisitor = inbox ? inbox.dataset.visitor : '';
  const filters = inbox ? inbox.dataset.filters : '';
  const listEl = document.getElementById('conversation-list');
  const conversationEl = document.getElementById('conversation');
  const known = new Set();
  let socket = null;
  let attempt = 0;
  let typingHide = null;

  function rememberList() {
    if (!listEl) return;
    listEl.querySelectorAll('li.conv').forEach((li) => known.add(li.dataset.id));
  }

  // Runs `fn` once events pause, and at least once a second while they keep coming.
  function debounce(fn) {
    let timer = null;
    let first = 0;
    return function () {
      const now = Date.now();
      if (!timer) first = now;
      clearTimeout(timer);
      const wait = Math.max(0, Math.min(REFRESH_DEBOUNCE_MS, first + REFRESH_MAX_WAIT_MS - now));
      timer = setTimeout(() => {
        timer = null;
        fn();
      }, wait);
    };
  }

  async function swap(el, url) {
    if (!el) return false;
    try {
      const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (response.status === 401 || response.redirected) {
        location.reload(); // the session ended: the page reload leads to the sign-in page
        return false;
      }
      if (!response.ok) return false;
      el.innerHTML = await response.text(); // server-rendered and escaped by askama
      return true;
    } catch (_) {
      return false;
    }
  }

  function transcript() {
    return document.getElementById('transcript');
  }

  function scrollToEnd() {
    const t = transcript();
    if (t) t.scrollTop = t.scrollHeight;
  }

  const refreshList = debounce(async () => {
    await swap(listEl, '/inbox/fragments/list?' + filters + '&selected=' + encodeURIComponent(selected));
    rememberList();
  });

  const refreshConversation = debounce(async () => {
    if (!selected) return;
    const t = transcript();
    const atEnd = !t || t.scrollHeight - t.scrollTop - t.clientHeight < 80;
    if (await swap(conversationEl, '/inbox/' + selected + '/fragment?' + filters) && atEnd) scrollToEnd();
  });

  const refreshVisitors = debounce(() => swap(visitorsPage, '/visitors/fragment'));

  // The supervisor's waiting times: seconds as the server rendered them, plus the time since.
  let renderedAt = Date.now();
  const refreshSupervisor = debounce(async () => {
    if (await swap(supervisorPage, '/supervisor/fragment')) renderedAt = Date.now();
  });

  function waited(seconds) {
    if (seconds < 60) return seconds + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min';
    return Math.floor(seconds / 3600) + ' h ' + Math.floor((seconds % 3600) / 60) + ' min';
  }

  function tickWaiting() {
    const since = Math.floor((Date.now() - renderedAt) / 1000);
    supervisorPage.querySelectorAll('[data-waited]').forEach((el) => {
      el.textContent = waited(Math.max(0, Number(el.dataset.waited) || 0) + since);
    });
  }

  // The header's "Online: visitors can chat" follows the widget's state (any available agent
  // with the inbox open), which changes whenever a colleague's status does.
  const refreshPresence = debounce(async () => {
    const el = document.getElementById('account-presence');
    if (!el) return;
    try {
      const response = await fetch('/account/presence', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const presence = await response.json();
      const online = presence.visitors_can_chat === true;
      el.className = 'presence ' + (online ? 'online' : 'offline');
      el.textContent = online ? el.dataset.online : el.dataset.offline;
    } catch (_) {
      /* keep the last known state */
    }
  });

  function beep() {
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.08;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (_) {
      /* no sound available */
    }
  }

  function announceNew(conversation) {
    beep();
    if ('Notification' in window && Notification.permission === 'granted') {
      const who = (conversation.visitor && (conversation.visitor.display_name || conversation.visitor.name || conversation.visitor.email)) || 'A visitor';
      const body = conversation.last_message ? conversation.last_message.preview : '';
      const note = new Notification('New conversation: ' + who, { body: body, tag: conversation.id });
      note.onclick = () => {
        window.focus();
        location.href = '/inbox/' + conversation.id;
      };
    }
  }

  function showTyping(on) {
    const el = document.getElementById('visitor-typing');
    if (!el) return;
    clearTimeout(typingHide);
    el.hidden = !on;
    if (on) typingHide = setTimeout(() => (el.hidden = true), TYPING_HIDE_MS);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'message':
        refreshSupervisor();
        refreshList();
        if (frame.conversation_id === selected) {
          if (frame.message && frame.message.author.kind === 'visitor') showTyping(false);
          refreshConversation();
        }
        break;
      case 'conversation':
        refreshSupervisor();
        if (!watching && !known.has(frame.id) && frame.status === 'open') {
          known.add(frame.id);
          announceNew(frame);
        }
        refreshList();
        if (frame.id === selected) refreshConversation();
        break;
      case 'typing':
        if (frame.conversation_id === selected && frame.author && frame.author.kind === 'visitor') showTyping(frame.on);
        break;
      case 'agent_status':
        refreshPresence();
        break;
      case 'visitor':
        refreshVisitors();
        if (selected && frame.id === selectedVisitor) refreshConversation();
        break;
    }
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function connect() {
    socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent' + (watching ? '?watch=1' : ''));
    socket.onopen = () => {
      attempt = 0;
      document.body.classList.remove('disconnected');
      refreshPresence();
      // Events may have been missed while away, or, on the first connection, between the
      // server rendering this page and the socket opening (a visitor writing just then):
      // re-render from the database; every later event arrives on the socket.
      refreshList();
      refreshConversation();
      refreshVisitors();
      refreshSupervisor();
    };
    socket.onmessage = (event) => {
      try {
        onFrame(JSON.parse(event.data));
      } catch (_) {
        /* ignore a frame we cannot read */
      }
    };
    socket.onclose = () => {
      document.body.classList.add('disconnected');
      const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      attempt += 1;
      setTimeout(connect, delay);
    };
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function setUpReply() {
    const form = document.getElementById('reply');
    if (!form) return;
    const text = form.querySelector('textarea[name=text]');
    const error = form.querySelector('.reply-error');
    let shortcuts = [];
    try {
      shortcuts = JSON.parse(text.dataset.shortcuts || '[]');
    } catch (_) {
      shortcuts = [];
    }
    let typingOn = false;
    let typingTimer = null;

    function stopTyping() {
      clearTimeout(typingTimer);
      if (typingOn) send({ type: 'typing', conversation_id: selected, on: false });
      typingOn = false;
    }

    function expandShortcut() {
      const match = /^\/([\w-]+)$/.exec(text.value.trim());
      if (!match) return false;
      const shortcut = shortcuts.find((s) => s.name === match[1].toLowerCase());
      if (!shortcut) return false;
      text.value = shortcut.text;
      return true;
    }

    // Typing "/" lists the matching shortcuts (an ARIA listbox under the reply box): arrow
    // keys choose, Enter or Tab inserts, Escape closes; clicking one inserts it too.
    const list = document.getElementById('shortcut-list');
    let matches = [];
    let active = 0;

    function slashToken() {
      const before = text.value.slice(0, text.selectionStart);
      const match = /(^|\s)\/([\w-]*)$/.exec(before);
      return match ? { query: match[2].toLowerCase(), start: before.length - match[2].length - 1 } : null;
    }

    function closeList() {
      matches = [];
      list.hidden = true;
      list.replaceChildren();
      text.removeAttribute('aria-activedescendant');
    }

    function showList() {
      const token = slashToken();
      if (!token || !shortcuts.length) return closeList();
      const starts = shortcuts.filter((s) => s.name.startsWith(token.query));
      const contains = shortcuts.filter((s) => !s.name.startsWith(token.query) && s.name.includes(token.query));
      matches = starts.concat(contains).slice(0, 8);
      if (!matches.length) return closeList();
      active = Math.min(active, matches.length - 1);
      list.replaceChildren(
        ...matches.map((s, i) => {
          const item = document.createElement('li');
          item.id = 'shortcut-' + i;
          item.setAttribute('role', 'option');
          item.setAttribute('aria-selected', String(i === active));
          const name = document.createElement('strong');
          name.textContent = '/' + s.name;
          const preview = document.createElement('span');
          preview.textContent = s.text;
          item.append(name, ' ', preview);
          item.addEventListener('mousedown', (event) => {
            event.preventDefault(); // keep the focus in the reply box
            insertShortcut(i);
          });
          return item;
        })
      );
      list.hidden = false;
      text.setAttribute('aria-activedescendant', 'shortcut-' + active);
    }

    function insertShortcut(i) {
      const token = slashToken();
      const shortcut = matches[i];
      if (!token || !shortcut) return closeList();
      const end = text.selectionStart;
      text.value = text.value.slice(0, token.start) + shortcut.text + text.value.slice(end);
      const caret = token.start + shortcut.text.length;
      text.setSelectionRange(caret, caret);
      closeList();
    }

    text.addEventListener('keydown', (event) => {
      if (!list.hidden && matches.length) {
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
          event.preventDefault();
          active = (active + (event.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
          showList();
          return;
        }
        if (event.key === 'Enter' || event.key === 'Tab') {
          event.preventDefault();
          insertShortcut(active);
          return;
        }
        if (event.key === 'Escape') {
          event.preventDefault();
          closeList();
          return;
        }
      }
      if ((event.key === 'Tab' || event.key === ' ') && expandShortcut()) {
        event.preventDefault();
        return;
      }
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    const internal = form.querySelector('input[name=internal]');
    const submit = form.querySelector('button[type=submit]');
    // Note mode is unmistakable: a yellow composer, "Add note" on the button, a note placeholder.
    const replyPlaceholder = text.placeholder;
    function showMode() {
      const note = internal.checked;
      form.classList.toggle('note-mode', note);
      submit.textContent = note ? submit.dataset.note : submit.dataset.send;
      text.placeholder = note ? 'Write an internal note (only agents see it)…' : replyPlaceholder;
    }
    internal.addEventListener('change', showMode);
    showMode();
    text.addEventListener('input', () => {
      active = 0;
      showList();
    });
    text.addEventListener('blur', closeList);
    text.addEventListener('input', () => {
      if (internal.checked) return; // an internal note is not something the visitor waits for
      if (!typingOn) send({ type: 'typing', conversation_id: selected, on: true });
      typingOn = true;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
    });

    // Files: each uploads at once (progress, cancel); the reply carries the ids of those done.
    let uploads = [];
    const fileInput = document.getElementById('reply-file');
    const tray = document.getElementById('reply-files');
    const csrf = form.querySelector('input[name=csrf_token]').value;
    const uploadUrl = form.action.replace(/\/messages(\?.*)?$/, '/attachments');
    function renderUploads() {
      tray.textContent = '';
      uploads.forEach((upload) => {
        const item = document.createElement('span');
        item.className = 'reply-file' + (upload.state === 'error' ? ' error' : '');
        const name = document.createElement('span');
        name.textContent = upload.state === 'error' ? upload.error : upload.name;
        item.append(name);
        if (upload.state === 'uploading') {
          const bar = document.createElement('progress');
          bar.max = upload.total;
          bar.value = upload.loaded;
          bar.setAttribute('aria-label', 'Uploading ' + upload.name);
          item.append(bar);
        }
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.textContent = '×';
        remove.setAttribute('aria-label', 'Remove ' + upload.name);
        remove.addEventListener('click', () => {
          if (upload.xhr && upload.state === 'uploading') upload.xhr.abort();
          uploads = uploads.filter((u) => u !== upload);
          renderUploads();
        });
        item.append(remove);
        tray.append(item);
      });
    }
    function uploadFiles(list) {
      Array.from(list || []).forEach((blob) => {
        const upload = { name: blob.name || 'pasted-image.png', state: 'uploading', loaded: 0, total: blob.size || 1 };
        uploads.push(upload);
        const xhr = new XMLHttpRequest();
        upload.xhr = xhr;
        xhr.open('POST', uploadUrl);
        xhr.setRequestHeader('X-CSRF-Token', csrf);
        xhr.upload.onprogress = (e) => {
          if (e.lengthComputable) Object.assign(upload, { loaded: e.loaded, total: e.total });
          renderUploads();
        };
        xhr.onload = () => {
          let answer = null;
          try {
            answer = JSON.parse(xhr.responseText);
          } catch (_) {}
          if (xhr.status === 201 && answer) Object.assign(upload, { state: 'done', file: answer });
          else {
            upload.state = 'error';
            upload.error = upload.name + ': ' + ((answer && answer.error && answer.error.message) || 'upload failed');
          }
          renderUploads();
        };
        xhr.onerror = () => {
          Object.assign(upload, { state: 'error', error: upload.name + ': upload failed' });
          renderUploads();
        };
        const body = new FormData();
        body.append('file', blob, upload.name);
        xhr.send(body);
      });
      renderUploads();
    }
    fileInput.addEventListener('change', () => {
      uploadFiles(fileInput.files);
      fileInput.value = '';
    });
    text.addEventListener('paste', (e) => {
      const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
      if (files.length) {
        e.preventDefault();
        uploadFiles(files);
      }
    });
    form.addEventListener('dragover', (e) => e.preventDefault());
    form.addEventListener('drop', (e) => {
      if (e.dataTransfer && e.dataTransfer.files.length) {
        e.preventDefault();
        uploadFiles(e.dataTransfer.files);
      }
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      expandShortcut();
      if (uploads.some((u) => u.state === 'uploading')) return;
      const done = uploads.filter((u) => u.state === 'done');
      if (!text.value.trim() && !done.length) return;
      form.querySelector('input[name=attachments]').value = done.map((u) => u.file.id).join(',');
      error.textContent = '';
      const body = new URLSearchParams(new FormData(form));
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const response = await fetch(form.action, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
          body: body,
        });
        if (response.redirected) {
          error.textContent = 'Not sent: your session ended. Sign in again (your text is kept here).';
        } else if (response.ok) {
          text.value = '';
          uploads = uploads.filter((u) => u.state !== 'done');
          renderUploads();
          form.querySelector('input[name=client_id]').value = newClientId();
          internal.checked = false;
          showMode();
          stopTyping();
          refreshConversation();
        } else {
          const problem = await response.json().catch(() => null);
          error.textContent = (problem && problem.error && problem.error.message) || 'Not sent; try again.';
        }
      } catch (_) {
        error.textContent = 'Not sent: the connection dropped. Try again.';
      } finally {
        button.disabled = false;
        text.focus();
      }
    });
  }

  // Browsers only allow notification prompts from a user gesture.
  document.addEventListener(
    'click',
    () => {
      if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission();
    },
    { once: true }
  );

  if (supervisorPage) {
    setInterval(tickWaiting, TICK_MS);
    setInterval(refreshSupervisor, SUPERVISOR_POLL_MS);
  }
  rememberList();
  scrollToEnd();
  setUpReply();
  connect();
})();
