// A table wider than the screen scrolls inside its box (.table-scroll): while it does,
// the box takes the keyboard focus, so that it can be scrolled without a mouse too
// (WCAG 2.1.1; axe's scrollable-region-focusable).
function update(box) {
  if (box.scrollWidth > box.clientWidth) {
    box.tabIndex = 0;
  } else {
    box.removeAttribute("tabindex");
  }
}

export function setUpScrollBoxes(root = document) {
  root.querySelectorAll(".table-scroll, .overflow-auto").forEach((box) => {
    update(box);
    if (!box.dataset.scrollWatched) {
      box.dataset.scrollWatched = "true";
      // The box keeps its width while its table grows (fonts, a late row): watch both.
      const observer = new ResizeObserver(() => update(box));
      observer.observe(box);
      if (box.firstElementChild) observer.observe(box.firstElementChild);
    }
  });
}
