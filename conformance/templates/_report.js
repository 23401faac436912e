// Filters: show the requirement rows whose outcome and level are both ticked.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#requirement-table tbody tr"));
  var shown = document.getElementById("shown");
  function ticked(name) {
    var values = {};
    form.querySelectorAll("input[name=" + name + "]").forEach(function (box) {
      if (box.checked) { values[box.value] = true; }
    });
    return values;
  }
  function apply() {
    var outcomes = ticked("outcome"), levels = ticked("level"), count = 0;
    rows.forEach(function (row) {
      var visible = outcomes[row.dataset.outcome] && levels[row.dataset.level];
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = "Showing " + count + " of " + rows.length + " requirements";
  }
  if (form) { form.addEventListener("change", apply); apply(); }

  // Copy buttons: the clipboard API where the page may use it, else select the text and copy.
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var status = button.parentNode.querySelector(".copied");
      var text = source.textContent;
      function done(ok) { status.textContent = ok ? "Copied." : "Select the text and copy it."; }
      function fallback() {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
