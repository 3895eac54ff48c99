// A slug field that follows a name field (data-slugify-into="<slug input id>") until
// someone types in the slug itself. The server makes the same slug from the name
// when the field arrives empty, so the form works without this script too.

// As Django's slugify: accents dropped, lower case, words joined by hyphens.
export function slugify(text) {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^\w\s-]/g, "")
    .toLowerCase()
    .replace(/[-\s]+/g, "-")
    .replace(/^[-_]+|[-_]+$/g, "")
    .slice(0, 100);
}

export function followNames(root = document) {
  root.querySelectorAll("input[data-slugify-into]").forEach((source) => {
    const target = document.getElementById(source.dataset.slugifyInto);
    if (!target) return;
    let typedByHand = target.value !== "";
    target.addEventListener("input", () => {
      typedByHand = target.value !== "";
    });
    source.addEventListener("input", () => {
      if (!typedByHand) target.value = slugify(source.value);
    });
  });
}
