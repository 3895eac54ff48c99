// What a person sees on the open page, measured by Chromium for
// tests/dashboard/test_pages_browser.py: returns a sentence per problem.
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth}px in ${window.innerWidth}px`);
  }
  const name = (element) => {
    const id = element.id ? `#${element.id}` : "";
    const label = element.labels && element.labels[0] ? ` "${element.labels[0].innerText.trim()}"` : "";
    return `<${element.tagName.toLowerCase()}${id}>${label}`;
  };
  const shown = (element) => {
    if (element.closest("[aria-hidden=true], .visually-hidden")) return false;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden";
  };
  const measure = document.createElement("canvas").getContext("2d");
  const widthOf = (element, text) => {
    const style = getComputedStyle(element);
    measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    return measure.measureText(text).width;
  };
  const narrowest = Math.min(100, window.innerWidth * 0.25);
  const skipped = ["checkbox", "radio", "hidden", "file", "submit", "button", "range", "color"];
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (skipped.includes((control.type || "").toLowerCase()) || !shown(control)) continue;
    const width = control.getBoundingClientRect().width;
    if (width < narrowest) problems.push(`${name(control)} is only ${Math.round(width)}px wide`);
    if (control.tagName === "SELECT" && control.selectedIndex >= 0) {
      const style = getComputedStyle(control);
      const room = control.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      const value = control.options[control.selectedIndex].text;
      if (widthOf(control, value) > room + 1) {
        problems.push(`${name(control)} cannot show its value "${value}"`);
      }
    }
  }
  const labels = "label, legend, th, button, summary, nav a, [role=button], dt, .stats span";
  const range = document.createRange();
  for (const element of document.querySelectorAll(labels)) {
    if (!shown(element)) continue;
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(".visually-hidden, [aria-hidden=true]")) continue;
      for (const word of node.textContent.matchAll(/[^\s\-\u2010/·]+/g)) {
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set(
          [...range.getClientRects()].filter((box) => box.width > 0).map((box) => Math.round(box.top)),
        );
        if (lines.size > 1) problems.push(`"${word[0]}" is broken across lines in ${name(element)}`);
      }
    }
  }
  for (const item of document.querySelectorAll(".messages li")) {
    if (getComputedStyle(item).listStyleType !== "none") problems.push("a flash message has a bullet");
  }
  return problems;
}
