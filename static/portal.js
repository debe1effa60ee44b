// The one shared <dialog>: htmx fills #dialog-body, we open it; a response that sets
// HX-Trigger "closeDialog" closes it. Copy buttons copy the value next to them.
(function () {
  const dialog = document.getElementById("dialog");
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "dialog-body" && !dialog.open) dialog.showModal();
  });
  document.body.addEventListener("closeDialog", function () { if (dialog.open) dialog.close(); });
  document.body.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (button) {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    }
    if (event.target.closest("[data-close-dialog]")) { event.preventDefault(); dialog.close(); }
    if (event.target.closest("[data-close-dialog-link]")) { dialog.close(); }
  });
})();
