// Keyboard shortcuts: elements with data-key are clicked when that key is pressed.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.altKey || event.ctrlKey || event.metaKey || (target && target.matches("input, textarea"))) {
    return;
  }
  const element = document.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
  if (element) {
    event.preventDefault();
    element.click();
  }
});
