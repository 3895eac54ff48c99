// The top navigation on a phone: a "Menu" button shows and hides it (a disclosure:
// aria-expanded says which). Without this script the navigation is simply shown.
function setUp(nav) {
  const button = nav.querySelector(".menu-toggle");
  if (!button) return;
  button.hidden = false;
  nav.dataset.menuReady = "true";
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
}

export function setUpMenus(root = document) {
  root.querySelectorAll("[data-menu]:not([data-menu-ready])").forEach(setUp);
}
