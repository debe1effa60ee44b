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

// A filter form that htmx submits with hx-push-url (data-follows-url): when Back or
// Forward brings an earlier page back from htmx's history, its fields show what that page's
// URL says, not what was typed last (the saved page keeps the values the server rendered).
document.body.addEventListener("htmx:historyRestore", function () {
  const params = new URLSearchParams(location.search);
  document.querySelectorAll("form[data-follows-url]").forEach(function (form) {
    Array.from(form.elements).forEach(function (field) {
      if (!field.name || field.type === "submit" || field.type === "button") return;
      const value = params.get(field.name) || "";
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = params.getAll(field.name).includes(field.value);
        return;
      }
      field.value = value;
      // A value the list does not offer leaves a <select> blank: show its first choice.
      if (field.tagName === "SELECT" && field.value !== value) field.selectedIndex = 0;
    });
  });
});
