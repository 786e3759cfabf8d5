/* Simulateur: the browser's keypad for /admin/simulateur.
 *
 * Each move is one POST to the step URL (JSON, CSRF header); the server plays it through the
 * real line and answers with what was said, what the call awaits and where it ended. The page
 * only keeps the state the server returned, to send it back with the next move. No library,
 * no inline script (the console's Content-Security-Policy forbids them).
 */
(function () {
  "use strict";

  var root = document.getElementById("simulateur");
  if (!root) {
    return;
  }

  function $(id) {
    return document.getElementById(id);
  }

  var stepUrl = root.getAttribute("data-step-url");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  var form = $("sim-form");
  var instantInput = $("sim-instant");
  var callerInput = $("sim-caller");
  var statusLine = $("sim-status");
  var errorLine = $("sim-error");
  var awaitLine = $("sim-await");
  var endingLine = $("sim-ending");
  var keypad = $("sim-keypad");
  var silenceButton = $("sim-silence");
  var dialGroup = $("sim-dial");
  var dialText = $("sim-dial-text");
  var recordGroup = $("sim-record");
  var recordText = $("sim-record-text");
  var hangupButton = $("sim-hangup");
  var newButton = $("sim-new");
  var transcript = $("sim-transcript");
  var summary = $("sim-summary");
  var speakBox = $("sim-speak");
  var speechWrap = $("sim-speech");
  var speechNote = $("sim-speech-note");
  var nowBox = $("sim-now");
  var nowText = $("sim-now-text");
  var languageBox = $("sim-language"); // absent when the line speaks French only

  var KEYS = "0123456789*#";
  var call = null; // {instant, caller, language, state, awaiting, moves, ended}
  var busy = false;
  var typed = []; // keys pressed ahead, while a move is on its way
  var generation = 0; // a new call drops the answers still coming for the old one

  // ------------------------------------------------------------------ speech

  var synth = window.speechSynthesis;
  var canSpeak = !!(synth && typeof window.SpeechSynthesisUtterance === "function");
  var voices = {}; // "fr-CA" / "en-CA" -> the browser's voice for it (null: its default)

  function langOf(v) {
    return (v.lang || "").toLowerCase().replace("_", "-");
  }

  // The Canadian voice of the language, else any voice of it.
  function voiceFor(all, lang) {
    var wanted = lang.toLowerCase();
    var base = wanted.split("-")[0];
    var i;
    for (i = 0; i < all.length; i += 1) {
      if (langOf(all[i]).indexOf(wanted) === 0) {
        return all[i];
      }
    }
    for (i = 0; i < all.length; i += 1) {
      if (langOf(all[i]).indexOf(base) === 0) {
        return all[i];
      }
    }
    return null;
  }

  function pickVoice() {
    var all = synth.getVoices() || [];
    voices = {"fr-CA": voiceFor(all, "fr-CA"), "en-CA": voiceFor(all, "en-CA")};
  }

  if (canSpeak) {
    pickVoice();
    if (typeof synth.addEventListener === "function") {
      synth.addEventListener("voiceschanged", pickVoice);
    } else {
      synth.onvoiceschanged = pickVoice;
    }
    speakBox.addEventListener("change", function () {
      if (!speakBox.checked) {
        hush();
      }
    });
  } else {
    speechWrap.hidden = true;
    speechNote.hidden = false;
  }

  function hush() {
    if (canSpeak) {
      synth.cancel();
    }
  }

  function speak(texts) {
    if (!canSpeak || !speakBox.checked) {
      return;
    }
    texts.forEach(function (said) {
      if (!said.text) {
        return;
      }
      var lang = said.lang === "en-CA" ? "en-CA" : "fr-CA";
      var voice = voices[lang] || null;
      var utterance = new window.SpeechSynthesisUtterance(said.text);
      utterance.lang = voice ? voice.lang : lang;
      if (voice) {
        utterance.voice = voice;
      }
      synth.speak(utterance);
    });
  }

  // ------------------------------------------------------------------ display

  function setStatus(text) {
    statusLine.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text || "";
    errorLine.hidden = !text;
  }

  function addEntry(entry) {
    var item = document.createElement("li");
    item.className = "entry entry-" + entry.kind;
    var who = document.createElement("span");
    who.className = "who";
    var whoText = {
      prompt: "Ligne",
      keys: "Vous",
      silence: "Vous",
      hangup: "Vous",
      record: "Vous",
      dial: "Transfert",
      end: "Résultat",
      start: "Appel"
    };
    who.textContent = (whoText[entry.kind] || "Ligne") + " : ";
    item.appendChild(who);
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = entry.text;
    if (entry.lang) {
      text.setAttribute("lang", entry.lang);
    }
    item.appendChild(text);
    if (entry.audio && entry.audio.charAt(0) === "/") {
      item.appendChild(document.createTextNode(" "));
      var link = document.createElement("a");
      link.href = entry.audio;
      link.className = "audio";
      link.textContent = "(enregistrement audio)";
      item.appendChild(link);
    }
    transcript.appendChild(item);
  }

  // The last prompts, next to the keypad (the transcript below keeps them all).
  function showNow(texts) {
    if (!texts.length) {
      return;
    }
    nowText.textContent = "";
    texts.forEach(function (said) {
      var line = document.createElement("p");
      line.textContent = said.text;
      if (said.lang) {
        line.setAttribute("lang", said.lang);
      }
      nowText.appendChild(line);
    });
    nowBox.hidden = false;
  }

  function choiceButtons(group) {
    return Array.prototype.slice.call(group.querySelectorAll("button"));
  }

  function render() {
    var awaiting = call && !call.ended ? call.awaiting : null;
    var kind = awaiting ? awaiting.kind : "none";
    dialGroup.hidden = kind !== "dial";
    recordGroup.hidden = kind !== "record";
    silenceButton.disabled = kind !== "keys";
    hangupButton.disabled = !call || !!call.ended;
    root.setAttribute("aria-busy", busy ? "true" : "false");
    choiceButtons(dialGroup).concat(choiceButtons(recordGroup)).forEach(function (b) {
      b.disabled = busy;
    });
    if (kind === "keys") {
      var hint = awaiting.num_digits > 1
        ? "L'appel attend " + awaiting.num_digits + " touches."
        : "L'appel attend une touche.";
      if (awaiting.timeout) {
        hint += " Sans touche après " + awaiting.timeout + " s : « Silence (attendre) ».";
      }
      if (typed.length) {
        hint += " Déjà tapé : " + typed.join("");
      }
      awaitLine.textContent = hint;
    } else if (kind === "dial") {
      dialText.textContent = awaiting.text + " : que fait l'équipe appelée ?";
      awaitLine.textContent = "Le transfert sonne.";
    } else if (kind === "record") {
      recordText.textContent = "Boîte vocale" + (awaiting.box ? " « " + awaiting.box + " »" : "") +
        " : après le bip, que fait l'appelant ?";
      awaitLine.textContent = "L'appel attend un message.";
    } else if (busy && typed.length) {
      awaitLine.textContent = "Touches tapées d'avance : " + typed.join("");
    } else {
      awaitLine.textContent = "";
    }
  }

  // Keep the keyboard user somewhere useful: on the answers when a transfer or a recording
  // waits for one, elsewhere when the control they were on disappears.
  function refocus(hadFocus) {
    if (!hadFocus) {
      return;
    }
    var kind = call && !call.ended && call.awaiting ? call.awaiting.kind : "ended";
    var active = document.activeElement;
    var lost = !active || active === document.body || active.disabled ||
      (active.closest && active.closest("[hidden]"));
    var answers = (kind === "dial" && !dialGroup.contains(active)) ||
      (kind === "record" && !recordGroup.contains(active));
    if (!lost && !answers) {
      return;
    }
    var target = {
      dial: $("sim-dial-completed"),
      record: $("sim-record-yes"),
      keys: $("sim-key-1"),
      ended: newButton
    }[kind] || newButton;
    target.focus();
  }

  // ------------------------------------------------------------------ moves

  function send(payload) {
    var mine = generation;
    var hadFocus = root.contains(document.activeElement);
    busy = true;
    showError("");
    render();
    var body = {
      instant: call.instant,
      caller: call.caller,
      language: call.language,
      moves: call.moves
    };
    if (call.state) {
      body.state = call.state;
    }
    Object.keys(payload).forEach(function (name) {
      body[name] = payload[name];
    });
    window.fetch(stepUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrf
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {error: "Réponse illisible du serveur (" + response.status + ")."};
      }).then(function (data) {
        return {ok: response.ok, data: data};
      });
    }).then(function (result) {
      if (mine !== generation) {
        return;
      }
      busy = false;
      if (!result.ok) {
        failed(result.data.error || "Le serveur a refusé ce geste.", payload.action);
      } else {
        apply(result.data);
      }
      render();
      refocus(hadFocus);
      flush();
    }).catch(function () {
      if (mine !== generation) {
        return;
      }
      busy = false;
      failed("Le serveur ne répond pas. Vérifiez la connexion, puis réessayez.", payload.action);
      render();
      refocus(hadFocus);
    });
  }

  function failed(message, action) {
    showError(message);
    typed = [];
    if (action === "start") {
      call = null;
      setStatus("L'appel n'a pas pu commencer.");
    }
  }

  function apply(data) {
    var texts = [];
    call.state = data.state;
    call.awaiting = data.awaiting;
    call.moves = data.moves || call.moves;
    call.ended = !!data.ended;
    if (data.language) {
      call.language = data.language; // key 9 at the welcome goes on in English
    }
    (data.entries || []).forEach(function (entry) {
      addEntry(entry);
      if (entry.kind === "prompt") {
        texts.push({text: entry.text, lang: entry.lang});
      }
    });
    showNow(texts);
    speak(texts);
    var from = data.caller === "numéro masqué" ? "d'un numéro masqué" : "de " + data.caller;
    summary.textContent = "Appel du " + data.instant + ", " + from +
      (call.language === "en" ? ", en anglais" : "") +
      (call.moves.length ? ". Gestes : " + call.moves.join(", ") + "." : ".");
    if (call.ended) {
      typed = [];
      endingLine.textContent = data.ending || "Fin de l'appel";
      endingLine.hidden = false;
      setStatus("Appel terminé.");
    } else {
      setStatus("Appel en cours.");
    }
    if (call.awaiting && call.awaiting.kind !== "keys") {
      typed = []; // keys typed during a transfer or a recording do not reach the menus
    }
  }

  function flush() {
    if (busy || !call || call.ended || !call.awaiting || call.awaiting.kind !== "keys") {
      render();
      return;
    }
    var wanted = call.awaiting.num_digits || 1;
    if (typed.length >= wanted) {
      send({action: "keys", keys: typed.splice(0, wanted).join("")});
    } else {
      render();
    }
  }

  function flashKey(key) {
    var button = keypad.querySelector('button[data-key="' + key + '"]');
    if (!button) {
      return;
    }
    button.classList.add("pressed");
    window.setTimeout(function () {
      button.classList.remove("pressed");
    }, 160);
  }

  function pressKey(key) {
    hush(); // barge-in: a key stops the prompt, as on the line
    flashKey(key);
    if (!call || call.ended) {
      setStatus("Aucun appel en cours : appuyez d'abord sur « Appeler ».");
      return;
    }
    if (!busy && call.awaiting && call.awaiting.kind !== "keys") {
      setStatus("L'appel n'attend pas de touche : choisissez une réponse ci-dessous.");
      return;
    }
    typed.push(key);
    flush();
  }

  function startCall() {
    generation += 1;
    hush();
    typed = [];
    transcript.textContent = "";
    endingLine.hidden = true;
    endingLine.textContent = "";
    showError("");
    nowBox.hidden = true;
    var instant = instantInput.value;
    var caller = callerInput.value.trim();
    if (!instant) {
      showError("Choisissez le moment de l'appel.");
      instantInput.focus();
      return;
    }
    if (!caller) {
      showError("Indiquez le numéro de l'appelant.");
      callerInput.focus();
      return;
    }
    call = {instant: instant, caller: caller, language: chosenLanguage(), state: null,
      awaiting: null, moves: [], ended: false};
    summary.textContent = "Appel en cours de composition…";
    setStatus("Composition…");
    send({action: "start"});
  }

  // The switch's choice: "fr", or "en" (a caller who chose English at the welcome).
  function chosenLanguage() {
    var checked = languageBox ? languageBox.querySelector("input[name=langue]:checked") : null;
    return checked ? checked.value : "fr";
  }

  function hangUp() {
    hush();
    if (!call || call.ended) {
      return;
    }
    if (busy || !call.state) {
      generation += 1; // the answer on its way is for a call that is over
      busy = false;
      call.ended = true;
      typed = [];
      addEntry({kind: "hangup", text: "Raccroché"});
      addEntry({kind: "end", text: "Fin de l'appel : vous avez raccroché"});
      endingLine.textContent = "Fin de l'appel : vous avez raccroché";
      endingLine.hidden = false;
      setStatus("Appel terminé.");
      render();
      return;
    }
    send({action: "hangup"});
  }

  function reset() {
    generation += 1;
    hush();
    busy = false;
    call = null;
    typed = [];
    transcript.textContent = "";
    summary.textContent = "Rien encore.";
    nowBox.hidden = true;
    endingLine.hidden = true;
    endingLine.textContent = "";
    showError("");
    setStatus("Prêt pour un nouvel appel : choisissez le moment et le numéro, puis « Appeler ».");
    render();
    instantInput.focus();
  }

  // ------------------------------------------------------------------ wiring

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    startCall();
  });

  Array.prototype.forEach.call(root.querySelectorAll(".sim-presets button"), function (b) {
    b.addEventListener("click", function () {
      callerInput.value = b.getAttribute("data-number");
    });
  });

  Array.prototype.forEach.call(keypad.querySelectorAll("button[data-key]"), function (b) {
    b.addEventListener("click", function () {
      pressKey(b.getAttribute("data-key"));
    });
  });

  silenceButton.addEventListener("click", function () {
    hush();
    if (!call || call.ended || busy || !call.awaiting || call.awaiting.kind !== "keys") {
      return;
    }
    if (typed.length) { // the keys typed so far go when the wait runs out, as on the line
      send({action: "keys", keys: typed.splice(0, typed.length).join("")});
    } else {
      send({action: "silence"});
    }
  });

  choiceButtons(dialGroup).forEach(function (b) {
    b.addEventListener("click", function () {
      if (!busy && call && !call.ended) {
        hush();
        send({action: "dial", status: b.getAttribute("data-status")});
      }
    });
  });

  choiceButtons(recordGroup).forEach(function (b) {
    b.addEventListener("click", function () {
      if (!busy && call && !call.ended) {
        hush();
        send({action: "record", message: b.getAttribute("data-message") === "yes"});
      }
    });
  });

  hangupButton.addEventListener("click", hangUp);
  newButton.addEventListener("click", reset);

  // The physical keyboard's digits, * and # press the keypad (not while typing in the form).
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
      return;
    }
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" ||
        (target && target.isContentEditable)) {
      return;
    }
    if (event.key && event.key.length === 1 && KEYS.indexOf(event.key) !== -1) {
      event.preventDefault();
      pressKey(event.key);
    }
  });

  render();
}());
