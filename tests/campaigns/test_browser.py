"""The default layouts in a real browser: no horizontal scroll, readable in dark mode."""

import pytest

from campaigns.rendering import personalize, render
from tests.campaigns.samples import make_input

pytestmark = pytest.mark.browser

# WCAG 2.x relative luminance and contrast, computed in the page from computed styles.
CONTRAST_JS = """
() => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const p = document.querySelector('.crier-text p');
  const fg = lum(rgb(getComputedStyle(p).color)), bg = lum(background(p));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}
"""


@pytest.mark.parametrize("width", [375, 800])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_default_layouts_fit_the_screen_and_stay_readable(
    browser, default_layout, reader, width, scheme, tmp_path
):
    html = personalize(render(make_input(layout=default_layout)), reader).html
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.route("**/*", lambda route: route.abort())  # images are remote: nothing leaves
    try:
        page.set_content(html)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scroll: {scroll_width}px at {width}px"
        assert page.evaluate(CONTRAST_JS) >= 4.5
        screenshot = tmp_path / f"{width}-{scheme}.png"
        page.screenshot(path=screenshot, full_page=True)
        assert screenshot.stat().st_size > 10_000
    finally:
        context.close()
