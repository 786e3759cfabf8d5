// Messagerie vocale: when a recording cannot be played (Twilio down, recording gone), say so
// in French next to the player instead of leaving a silent, greyed-out control.
(function () {
  "use strict";
  document.querySelectorAll("audio.vm-audio").forEach(function (audio) {
    var message = audio.parentElement.querySelector(".vm-audio-error");
    if (!message) { return; }
    audio.addEventListener("error", function () { message.hidden = false; });
    audio.addEventListener("playing", function () { message.hidden = true; });
  });
})();
