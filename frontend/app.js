// The dashboard's only script: htmx, bundled so the page needs nothing but 'self'.
import htmx from "htmx.org";

htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
window.htmx = htmx;
