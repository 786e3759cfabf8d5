// Arborescence: zoom buttons for the diagram (without script the diagram simply scrolls).
(function () {
  "use strict";
  var bar = document.querySelector("[data-tree-zoom]");
  var scroller = document.querySelector(".tree-scroll");
  var svg = scroller && scroller.querySelector("svg");
  if (!bar || !svg || !svg.viewBox || !svg.viewBox.baseVal) {
    return;
  }
  var width = svg.viewBox.baseVal.width;
  var height = svg.viewBox.baseVal.height;
  var level = bar.querySelector(".zoom-level");
  var scale = 1;

  function apply() {
    svg.setAttribute("width", String(Math.round(width * scale)));
    svg.setAttribute("height", String(Math.round(height * scale)));
    level.textContent = Math.round(scale * 100) + " %";
  }

  bar.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-zoom]");
    if (!button) {
      return;
    }
    var zoom = button.getAttribute("data-zoom");
    if (zoom === "fit") {
      scale = (scroller.clientWidth - 2) / width;
    } else if (zoom === "1") {
      scale = 1;
    } else {
      scale = scale * parseFloat(zoom);
    }
    scale = Math.min(2.5, Math.max(0.25, scale));
    apply();
  });
  bar.hidden = false;
})();
