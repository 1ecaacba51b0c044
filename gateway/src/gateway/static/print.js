// Optional: a Print button for the embedded PDF. Without JavaScript the PDF viewer's own printer icon works.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-button");
  if (!button) { return; }
  var frame = document.getElementById(button.getAttribute("data-frame"));
  button.hidden = false;
  button.addEventListener("click", function () {
    try { frame.contentWindow.focus(); frame.contentWindow.print(); }
    catch (e) { window.open(frame.src, "_blank", "noopener"); }
  });
});
