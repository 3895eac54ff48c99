// Slugs follow the name as it is typed (<input data-slug-from="name">), the way the
// server makes one from the name when the field is left empty: Django's slugify. A
// slug that was there when the page opened, or that the editor typed, is left alone.
export function slugify(text) {
  return text
    .normalize("NFKD")
    .replace(/[^\x00-\x7f]/g, "")
    .toLowerCase()
    .replace(/[^\w\s-]/g, "")
    .replace(/[-\s]+/g, "-")
    .replace(/^[-_]+|[-_]+$/g, "");
}

function follow(slug) {
  const source = slug.form && slug.form.elements.namedItem(slug.dataset.slugFrom);
  if (!source) return;
  slug.dataset.slugReady = "true";
  let following = slug.value === "";
  source.addEventListener("input", () => {
    if (following) slug.value = slugify(source.value).slice(0, slug.maxLength > 0 ? slug.maxLength : undefined);
  });
  slug.addEventListener("input", () => {
    following = slug.value === "";
  });
}

export function setUpSlugs(root = document) {
  root.querySelectorAll("input[data-slug-from]:not([data-slug-ready])").forEach(follow);
}
